# Builds and installs libcontainerd as a C library, with cargo-c (`cargo install cargo-c`).
#
#   make                                  build the shared and static library (cargo cbuild)
#   make install PREFIX=/usr/local        install (DESTDIR=/staging for packaging)
#   make uninstall PREFIX=/usr/local      remove what install put there
#   make dev-pkgconfig                    pkg-config files for the build tree (see below)
#
# install puts into $(DESTDIR):
#   $(LIBDIR)/libcontainerd.so.<ABI>.<minor>.<patch>  SONAME libcontainerd.so.<ABI>, stripped
#   $(LIBDIR)/libcontainerd.so.<ABI>, $(LIBDIR)/libcontainerd.so   symlinks
#   $(LIBDIR)/libcontainerd.a                        without debug info
#   $(LIBDIR)/pkgconfig/libcontainerd.pc             Libs.private: the archive's system libraries
#   $(INCLUDEDIR)/libcontainerd.h                    the committed cbindgen header
#   $(DEBUGDIR)/libcontainerd.so.<version>.debug     the split debug info; the default,
#                                                    $(LIBDIR)/.debug, is where gdb looks
#                                                    for the library's .gnu_debuglink
# LIBRARY_TYPES=staticlib installs only the archive (a program then links it with
# `pkg-config --static`), LIBRARY_TYPES=cdylib only the shared library.
#
# cargo cbuild makes the SONAME'd library, the archive and the .pc (with Libs.private
# from rustc's list of the archive's native libraries) in target/<host>/release, always
# with the same arguments; install copies them and sets the .pc's directories. (cargo
# cinstall would rebuild everything, dependencies included, for each new PREFIX.)
#
# dev-pkgconfig writes build/pkgconfig/libcontainerd.pc (the shared library of
# `cargo build --release` in target/release, the header in include/) and
# build/pkgconfig-static/libcontainerd.pc (that archive alone), so that the Go binding
# builds in this checkout with PKG_CONFIG_PATH=$(CURDIR)/build/pkgconfig and no install
# (run with LD_LIBRARY_PATH=$(CURDIR)/target/release).

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DEBUGDIR ?= $(LIBDIR)/.debug
LIBRARY_TYPES ?= cdylib staticlib
CARGO ?= cargo
OBJCOPY ?= objcopy
STRIP ?= strip
INSTALL ?= install

HOST := $(shell rustc -vV | sed -n 's/^host: //p')
CAPI_DIR := target/$(HOST)/dist
# The file version <ABI>.<minor>.<patch> (Cargo.toml) and the SONAME's number.
SO_VERSION := $(shell sed -n '/^\[package.metadata.capi.library\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
SO_MAJOR := $(firstword $(subst ., ,$(SO_VERSION)))
SO_FILE := libcontainerd.so.$(SO_VERSION)
DEST_LIB = $(DESTDIR)$(LIBDIR)
DEST_DEBUG = $(DESTDIR)$(DEBUGDIR)

.PHONY: all cbuild release install uninstall dev-pkgconfig clean-pkgconfig check-cargo-c

all: cbuild

check-cargo-c:
	@$(CARGO) cbuild --version >/dev/null 2>&1 || { \
	  echo "cargo-c is missing: cargo install cargo-c --locked (scripts/setup.sh installs it)" >&2; exit 1; }

cbuild: check-cargo-c
	$(CARGO) cbuild --profile dist --library-type=cdylib --library-type=staticlib

# What the tests, the benchmarks and the bindings' in-tree builds use.
release:
	$(CARGO) build --release

install: cbuild
	$(INSTALL) -d -m 0755 $(DEST_LIB) $(DEST_LIB)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	$(INSTALL) -m 0644 include/libcontainerd.h $(DESTDIR)$(INCLUDEDIR)/libcontainerd.h
	sed -e 's|^prefix=.*|prefix=$(PREFIX)|' -e 's|^exec_prefix=.*|exec_prefix=$${prefix}|' \
	    -e 's|^libdir=.*|libdir=$(LIBDIR)|' -e 's|^includedir=.*|includedir=$(INCLUDEDIR)|' \
	    $(CAPI_DIR)/libcontainerd.pc >$(DEST_LIB)/pkgconfig/libcontainerd.pc
	chmod 0644 $(DEST_LIB)/pkgconfig/libcontainerd.pc
ifneq ($(filter cdylib,$(LIBRARY_TYPES)),)
	$(INSTALL) -d -m 0755 $(DEST_DEBUG)
	$(OBJCOPY) --only-keep-debug $(CAPI_DIR)/libcontainerd.so $(DEST_DEBUG)/$(SO_FILE).debug
	chmod 0644 $(DEST_DEBUG)/$(SO_FILE).debug
	$(STRIP) --strip-debug --strip-unneeded -o $(DEST_LIB)/$(SO_FILE) $(CAPI_DIR)/libcontainerd.so
	cd $(DEST_DEBUG) && $(OBJCOPY) --add-gnu-debuglink=$(SO_FILE).debug $(DEST_LIB)/$(SO_FILE)
	chmod 0755 $(DEST_LIB)/$(SO_FILE)
	ln -sf $(SO_FILE) $(DEST_LIB)/libcontainerd.so.$(SO_MAJOR)
	ln -sf libcontainerd.so.$(SO_MAJOR) $(DEST_LIB)/libcontainerd.so
endif
ifneq ($(filter staticlib,$(LIBRARY_TYPES)),)
	$(STRIP) --strip-debug -o $(DEST_LIB)/libcontainerd.a $(CAPI_DIR)/libcontainerd.a
	chmod 0644 $(DEST_LIB)/libcontainerd.a
endif

uninstall:
	rm -f $(DEST_LIB)/libcontainerd.so $(DEST_LIB)/libcontainerd.so.$(SO_MAJOR) $(DEST_LIB)/$(SO_FILE) \
	  $(DEST_LIB)/libcontainerd.a $(DEST_LIB)/pkgconfig/libcontainerd.pc \
	  $(DESTDIR)$(INCLUDEDIR)/libcontainerd.h $(DEST_DEBUG)/$(SO_FILE).debug
	-rmdir $(DEST_DEBUG) 2>/dev/null || true

# pkg-config files for the build tree, made from cargo-c's .pc (so Libs.private is the
# one cargo-c derived from rustc's list of the archive's native libraries).
dev-pkgconfig: cbuild release
	@set -e; mkdir -p build/pkgconfig build/pkgconfig-static build/static-lib; \
	ln -sf $(CURDIR)/target/release/libcontainerd.a build/static-lib/libcontainerd.a; \
	pc=$(CAPI_DIR)/libcontainerd.pc; \
	sed -e 's|^prefix=.*|prefix=$(CURDIR)|' -e 's|^exec_prefix=.*|exec_prefix=$${prefix}|' \
	    -e 's|^libdir=.*|libdir=$${prefix}/target/release|' \
	    -e 's|^includedir=.*|includedir=$${prefix}/include|' "$$pc" >build/pkgconfig/libcontainerd.pc; \
	sed -e 's|^prefix=.*|prefix=$(CURDIR)|' -e 's|^exec_prefix=.*|exec_prefix=$${prefix}|' \
	    -e 's|^libdir=.*|libdir=$${prefix}/build/static-lib|' \
	    -e 's|^includedir=.*|includedir=$${prefix}/include|' "$$pc" >build/pkgconfig-static/libcontainerd.pc; \
	echo "wrote build/pkgconfig/libcontainerd.pc and build/pkgconfig-static/libcontainerd.pc"

clean-pkgconfig:
	rm -rf build/pkgconfig build/pkgconfig-static build/static-lib
