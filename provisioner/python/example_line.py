#!/usr/bin/env python3
"""Line test software provisioning chips through libprovision, without spawning `provision`.

One handle for the whole shift: each --probe is a device under test, run in turn. For each the
script shows the progress as it comes, then prints one JSON line (the device's record for the
line's own database): the status, the UID, the phases in the order the callback reported them
and whether that order is the run's, the error if any. Exit status: 0 when every device is
provisioned, 1 when any failed (each failure is a result, not a crash), 2 on bad arguments.

    example_line.py --recipe product.yaml --ledger ledger.db --pin-file pin \\
                    --probe gdb:127.0.0.1:3333 --probe gdb:127.0.0.1:3334
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import libprovision  # noqa: E402


def provision_one(p, probe, log):
    p.set("probe", probe)
    seen = []  # phases in the order the callback reported them done
    relayed = [0]

    def progress(ev):
        if ev.event == libprovision.EV_PHASE:
            seen.append(ev.phase_name)
            log.write("  %-8s %5d ms  %s\n" % (ev.phase_name, ev.phase_ms, ev.message))
        elif ev.event == libprovision.EV_BYTES:
            relayed[0] = ev.bytes_done
        else:
            log.write("  note: %s\n" % ev.message)

    r = p.run(progress=progress)
    in_order = seen == list(libprovision.PHASES[:len(seen)])
    if r.ok and seen != list(libprovision.PHASES):
        in_order = False  # a success has every phase
    return {
        "probe": probe,
        "status": r.status_name,
        "ok": r.ok,
        "uid": r.uid or None,
        "rdp": r.rdp or None,
        "ledger_state": r.ledger_state,
        "phases_seen": seen,
        "phases_in_order": in_order,
        "bytes_relayed": relayed[0],
        "failed_phase": r.failed_phase,
        "error": r.error or None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library", help="libprovision.so (default: $LIBPROVISION, the system's, "
                    "or this checkout's build)")
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--ledger")
    ap.add_argument("--pin-file")
    ap.add_argument("--station")
    ap.add_argument("--probe", action="append", required=True, help="one per device, in order")
    a = ap.parse_args()

    lib = libprovision.load(a.library)
    all_ok = True
    with libprovision.Provisioner(lib, recipe=a.recipe, ledger=a.ledger, pin_file=a.pin_file,
                                  station=a.station) as p:
        for probe in a.probe:
            sys.stderr.write("device on %s\n" % probe)
            rec = provision_one(p, probe, sys.stderr)
            all_ok = all_ok and rec["ok"] and rec["phases_in_order"]
            print(json.dumps(rec), flush=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
