# Debian packages (debian/): `make deb` builds provision, hsm-bridge and provision-firmware into
# $(BUILD)/deb with dpkg-buildpackage and debhelper. debian/rules installs the release build and
# the device images as built here (nothing is compiled twice). tests/deb/test_deb.sh lints,
# installs, checks and purges them (`make test`: build/host/tests/test_deb).

ifeq ($(PV_VERSION),)
$(error debian/changelog: no version on its first line, as in "provision (0.1.0) unstable; ...")
endif
# A new version rebuilds the two objects that print it.
$(HOSTDIR)/provisioner/commands.o $(HOSTDIR)/hsm-bridge/cmd_table.o: debian/changelog

DEB_DIR := $(BUILD)/deb
# The device images provision-firmware holds (under /usr/share/provision/firmware). The demo
# application goes unsigned: an image is signed with the product's token key (provision image
# sign --pkcs11), and the build tree's signed .img files carry a throwaway test key.
FIRMWARE_IMAGES := $(ARMDIR)/stub-loader/stub.bin $(ARMDIR)/firmware/bootloader.bin \
                   $(ARMDIR)/firmware/app_v1.bin $(ARMDIR)/firmware/app_v2.bin

.PHONY: deb firmware-images install-firmware install-libprovision
firmware-images: $(FIRMWARE_IMAGES)

install-firmware: $(FIRMWARE_IMAGES)
	install -d $(DESTDIR)$(PREFIX)/share/provision/firmware
	install -m 0644 $(FIRMWARE_IMAGES) $(DESTDIR)$(PREFIX)/share/provision/firmware/

# libprovision (the -fPIC release build of $(BUILD)/pic), its header and its Python binding.
# LIBDIR: where the library goes under PREFIX (debian/rules: lib/<multiarch triplet>).
LIBDIR ?= lib
PYTHONDIR ?= lib/python3/dist-packages
install-libprovision: libprovision-pic
	install -D -m 0644 $(LIBPROV_PIC).1 $(DESTDIR)$(PREFIX)/$(LIBDIR)/libprovision.so.1
	ln -sfn libprovision.so.1 $(DESTDIR)$(PREFIX)/$(LIBDIR)/libprovision.so
	install -D -m 0644 provisioner/libprovision.h $(DESTDIR)$(PREFIX)/include/libprovision.h
	install -D -m 0644 provisioner/python/libprovision.py \
	    $(DESTDIR)$(PREFIX)/$(PYTHONDIR)/libprovision.py

# -b: binary packages only; --no-pre-clean: build/ is not debian/rules' to clean. The .buildinfo
# and .changes go beside the packages. What debhelper leaves in debian/ is removed after (not with
# dh_clean, which would also delete backup and *-stamp files anywhere in the tree, build/ too).
DEB_LEFTOVERS := debian/.debhelper debian/tmp debian/files debian/debhelper-build-stamp \
                 debian/provision debian/hsm-bridge debian/provision-firmware debian/libprovision1 \
                 debian/libprovision-dev debian/python3-libprovision
deb: release libprovision-pic $(FIRMWARE_IMAGES)
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)
	dpkg-buildpackage -b --no-sign --no-pre-clean \
	    --buildinfo-option=-u$(DEB_DIR) --changes-option=-u$(DEB_DIR) \
	    --buildinfo-file=$(DEB_DIR)/provision_$(PV_VERSION).buildinfo \
	    --changes-file=$(DEB_DIR)/provision_$(PV_VERSION).changes
	rm -rf $(DEB_LEFTOVERS) debian/*.substvars debian/*.debhelper debian/*.debhelper.log
	@ls -l $(DEB_DIR)/*.deb

# The package test as one of the test programs tests/run_tests.sh runs (`make test`).
$(HOSTDIR)/tests/test_deb: tests/deb/test_deb.sh
	@mkdir -p $(@D)
	ln -sfn $(abspath $<) $@
