"""Python binding of libprovision (provisioner/libprovision.h, docs/libprovision.md).

Standard library only (ctypes). Line test software provisions the chip on a probe without
spawning `provision`:

    from libprovision import Provisioner
    with Provisioner(recipe="product.yaml", ledger="ledger.db") as p:
        p.set("probe", "gdb:127.0.0.1:3333")
        result = p.run(progress=lambda ev: print(ev.phase_name, ev.message))
        if not result.ok:
            print(result.status_name, result.error)

Every outcome of a run, failures included, is a Result; exceptions are for misuse only (an
unknown option, a library of another API version, a closed handle) and for an exception raised
by the caller's own progress callback, which is re-raised once the run has ended cleanly.
"""

import ctypes
import ctypes.util
import os

API_MAJOR = 1  # PV_PROV_VERSION_MAJOR this binding is written for

PHASES = ("load", "identify", "stub", "reserve", "key", "erase", "write", "verify", "lock")
EV_PHASE, EV_NOTE, EV_BYTES = 0, 1, 2
STATUS_OK = 0
VALUES_MAX = 16


class _Progress(ctypes.Structure):
    _fields_ = [
        ("event", ctypes.c_int),
        ("phase", ctypes.c_int),
        ("phase_ms", ctypes.c_int64),
        ("bytes_done", ctypes.c_uint64),
        ("bytes_total", ctypes.c_uint64),
        ("message", ctypes.c_char_p),
    ]


class _Value(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 32), ("value", ctypes.c_char * 128)]


class _Result(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_int),
        ("failed_phase", ctypes.c_int),
        ("uid", ctypes.c_char * 25),
        ("batch", ctypes.c_char * 64),
        ("station", ctypes.c_char * 64),
        ("recipe", ctypes.c_char * 64),
        ("recipe_sha256", ctypes.c_char * 65),
        ("image_sha256", ctypes.c_char * 65),
        ("probe", ctypes.c_char * 256),
        ("rdp", ctypes.c_char * 16),
        ("ledger_state", ctypes.c_char * 16),
        ("resumed", ctypes.c_int),
        ("phase_ms", ctypes.c_int64 * len(PHASES)),
        ("total_ms", ctypes.c_int64),
        ("probe_round_trips", ctypes.c_int64),
        ("error", ctypes.c_char * 4096),
        ("n_values", ctypes.c_uint),
        ("values", _Value * VALUES_MAX),
    ]


_PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_Progress))


class Event:
    """One progress callback: a phase done, a note, or bytes relayed."""

    def __init__(self, p):
        self.event = p.event
        self.phase = p.phase
        self.phase_name = PHASES[p.phase] if 0 <= p.phase < len(PHASES) else "after lock"
        self.phase_ms = p.phase_ms
        self.bytes_done = p.bytes_done
        self.bytes_total = p.bytes_total
        self.message = (p.message or b"").decode("utf-8", "replace")

    def __repr__(self):
        kind = {EV_PHASE: "phase", EV_NOTE: "note", EV_BYTES: "bytes"}.get(self.event, "?")
        return "Event(%s, %s, %r)" % (kind, self.phase_name, self.message)


class Result:
    """What a run found out (struct pv_prov_result)."""

    def __init__(self, r, status_name):
        def text(b):
            return b.decode("utf-8", "replace")

        self.status = r.status
        self.status_name = status_name
        self.ok = r.status == STATUS_OK
        self.failed_phase = (
            None if r.failed_phase < 0 else
            PHASES[r.failed_phase] if r.failed_phase < len(PHASES) else "after lock")
        for f in ("uid", "batch", "station", "recipe", "recipe_sha256", "image_sha256", "probe",
                  "rdp", "ledger_state", "error"):
            setattr(self, f, text(getattr(r, f)))
        self.resumed = bool(r.resumed)
        self.phase_ms = {PHASES[i]: r.phase_ms[i] for i in range(len(PHASES))
                         if r.phase_ms[i] >= 0}
        self.total_ms = r.total_ms
        self.probe_round_trips = None if r.probe_round_trips < 0 else r.probe_round_trips
        self.values = {text(r.values[i].name): text(r.values[i].value)
                       for i in range(min(r.n_values, VALUES_MAX))}

    def __repr__(self):
        return "Result(%s, uid=%r, failed_phase=%r)" % (self.status_name, self.uid,
                                                         self.failed_phase)


def _find_library():
    """$LIBPROVISION, else the system's libprovision.so.1, else this checkout's build."""
    env = os.environ.get("LIBPROVISION")
    if env:
        return env
    found = ctypes.util.find_library("provision")
    if found:
        return found
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "build", "pic", "host", "lib", "libprovision.so.1")


def load(path=None):
    """Loads the library and declares its calls; refuses another major API version."""
    lib = ctypes.CDLL(path or _find_library())
    lib.pv_prov_version.restype = ctypes.c_uint
    lib.pv_prov_version.argtypes = []
    lib.pv_prov_status_name.restype = ctypes.c_char_p
    lib.pv_prov_status_name.argtypes = [ctypes.c_int]
    lib.pv_prov_new.restype = ctypes.c_void_p
    lib.pv_prov_new.argtypes = []
    lib.pv_prov_free.restype = None
    lib.pv_prov_free.argtypes = [ctypes.c_void_p]
    lib.pv_prov_set.restype = ctypes.c_int
    lib.pv_prov_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_char_p, ctypes.c_size_t]
    lib.pv_prov_check.restype = ctypes.c_int
    lib.pv_prov_check.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.pv_prov_run.restype = ctypes.c_int
    lib.pv_prov_run.argtypes = [ctypes.c_void_p, _PROGRESS_FN, ctypes.c_void_p,
                                ctypes.POINTER(_Result), ctypes.c_size_t]
    major = lib.pv_prov_version() >> 16
    if major != API_MAJOR:
        raise RuntimeError("libprovision at %s implements API %d, this binding API %d"
                           % (path or _find_library(), major, API_MAJOR))
    return lib


class Provisioner:
    """A libprovision handle: options by `provision run`'s names, then any number of runs."""

    def __init__(self, library=None, **options):
        self._lib = library if isinstance(library, ctypes.CDLL) else load(library)
        self._h = self._lib.pv_prov_new()
        if not self._h:
            raise MemoryError("pv_prov_new")
        for name, value in options.items():
            self.set(name.replace("_", "-"), value)

    def set(self, name, value):
        """Sets an option ("recipe", "probe", "pin-file", ...); None unsets it, True sets a
        flag. Raises ValueError for an option the library refuses."""
        if value is True:
            value = "1"
        elif value is False:
            value = None
        err = ctypes.create_string_buffer(512)
        rc = self._lib.pv_prov_set(self._handle(), name.encode(),
                                   None if value is None else str(value).encode(), err,
                                   len(err))
        if rc != STATUS_OK:
            raise ValueError(err.value.decode("utf-8", "replace"))

    def check(self):
        """Checks the options together: None when they are fine, else the reason."""
        err = ctypes.create_string_buffer(1400)
        rc = self._lib.pv_prov_check(self._handle(), err, len(err))
        return None if rc == STATUS_OK else err.value.decode("utf-8", "replace")

    def run(self, progress=None):
        """Provisions the chip on the probe; progress(Event) is called as it goes. Returns a
        Result, failures included."""
        raised = []

        def relay(_ctx, p):
            if progress is None or raised:
                return
            try:
                progress(Event(p.contents))
            except BaseException as e:  # ctypes would only print it: keep it for later
                raised.append(e)

        res = _Result()
        self._lib.pv_prov_run(self._handle(), _PROGRESS_FN(relay), None, ctypes.byref(res),
                              ctypes.sizeof(res))
        if raised:
            raise raised[0]
        return Result(res, self._lib.pv_prov_status_name(res.status).decode())

    def close(self):
        if self._h:
            self._lib.pv_prov_free(self._h)
            self._h = None

    def _handle(self):
        if not self._h:
            raise ValueError("the Provisioner is closed")
        return self._h

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
