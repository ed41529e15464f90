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

.PHONY: deb firmware-images install-firmware
firmware-images: $(FIRMWARE_IMAGES)

install-firmware: $(FIRMWARE_IMAGES)
	install -d $(DESTDIR)$(PREFIX)/share/provision/firmware
	install -m 0644 $(FIRMWARE_IMAGES) $(DESTDIR)$(PREFIX)/share/provision/firmware/

# -b: binary packages only; --no-pre-clean: build/ is not debian/rules' to clean. The .buildinfo
# and .changes go beside the packages. What debhelper leaves in debian/ is removed after (not with
# dh_clean, which would also delete backup and *-stamp files anywhere in the tree, build/ too).
DEB_LEFTOVERS := debian/.debhelper debian/tmp debian/files debian/debhelper-build-stamp \
                 debian/provision debian/hsm-bridge debian/provision-firmware
deb: release $(FIRMWARE_IMAGES)
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
