# libgradcam - top-level build.
#
#   make                  library, examples and tools
#   make test             build and run every test (T=name runs tests/test_name only)
#   make SANITIZE=1 ...   AddressSanitizer + UndefinedBehaviorSanitizer
#   make SANITIZE=thread  ThreadSanitizer (the session thread pools included)
#   make install PREFIX=/usr/local [DESTDIR=...]   header, both libraries, pkg-config
#
# Objects live in build/<config>/ so switching configurations never mixes
# objects; the archive and the programs are relinked when the config changes.

CC       ?= cc
SANITIZE ?=
PREFIX   ?= /usr/local
OPT      ?= -O2
PYTHON   ?= python3

CFLAGS_BASE := -std=c11 -Wall -Wextra -g $(OPT) -Iinclude -Ilib -D_POSIX_C_SOURCE=200809L
# GC_SANITIZED_BUILD: kernels keep their per-shape helpers as calls rather than forcing them
# inline (lib/kernels/conv_depthwise_tx.h, DW_CASE): instrumenting the unrolled cases cost minutes
SANFLAGS :=
ifeq ($(SANITIZE),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DGC_SANITIZED_BUILD
endif
ifeq ($(SANITIZE),thread)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer -DGC_SANITIZED_BUILD
endif

ALL_CFLAGS = $(CFLAGS_BASE) $(SANFLAGS) $(CFLAGS)
LDLIBS_ALL = $(SANFLAGS) $(LDFLAGS) -lm -lpthread

CONFIG := san$(SANITIZE)
B      := build/$(CONFIG)
STAMP  := build/config.stamp

LIB      := lib/libgradcam.a
# The shared library: real file lib/libgradcam.so.X.Y.Z, soname libgradcam.so.X (the major
# number of GC_VERSION_STRING in the header), and the two symlinks. Library objects are
# compiled once, position-independent and with hidden visibility (the archive uses the same
# objects), so the .so exports only what include/gradcam.h declares (GC_API_BEGIN/END).
VERSION  := $(shell sed -n 's/^\#define GC_VERSION_STRING "\(.*\)"/\1/p' include/gradcam.h)
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
SONAME   := libgradcam.so.$(SOMAJOR)
SO       := lib/libgradcam.so.$(VERSION)
SO_LINKS := lib/$(SONAME) lib/libgradcam.so
LIB_SRC  := $(sort $(wildcard lib/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
COMMON_SRC := $(sort $(wildcard examples/common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
EX_BIN   := $(patsubst %.c,%,$(sort $(wildcard examples/*.c)))
TOOL_BIN := $(patsubst %.c,%,$(sort $(wildcard tools/*.c)))
TESTCOMMON_SRC := $(sort $(wildcard tests/common/*.c))
TESTCOMMON_OBJ := $(TESTCOMMON_SRC:%.c=$(B)/%.o)
TEST_BIN := $(patsubst tests/%.c,$(B)/tests/%,$(sort $(wildcard tests/test_*.c)))

.SECONDARY:
.PHONY: fuzz all test install uninstall clean bench demo eval check-header onnx-conformance FORCE \
        fashion-eval fashion-bench fashion-adversarial fashion-bias fashion-failures \
        fashion-reproduce fashion-reproduce-quick
all: $(LIB) $(SO_LINKS) $(EX_BIN) $(TOOL_BIN)

# Rewritten only when the configuration changes, so programs relink then.
$(STAMP): FORCE
	@mkdir -p build
	@if [ "$$(cat $@ 2>/dev/null)" != "$(CONFIG)" ]; then echo "$(CONFIG)" > $@; fi

# Kernels are built at -O3 (branch-free loops there are written to be
# vectorised by the compiler); the rest of the library at $(OPT).
$(B)/lib/kernels/%.o: KFLAGS := -O3
# The activations' selects become vector blends only when comparisons may not trap (the
# values are the same IEEE operations either way).
$(B)/lib/kernels/activation.o $(B)/lib/kernels/activation_%.o: KFLAGS := -O3 -fno-trapping-math
# The element-wise joins' loops (add, sub, mul, div, broadcasting) too: at -O2 GCC keeps loops
# with a run-time trip count and possibly aliased pointers scalar (EfficientNet's gates ran mulss).
$(B)/lib/layers/binary.o: KFLAGS := -O3

# Per-ISA kernels: only these files get ISA flags; dispatch is at run time.
$(B)/%_avx2.o:   XFLAGS := -mavx2 -mfma $(LEAF_TSAN)
$(B)/%_avx512.o: XFLAGS := -mavx512f -mavx512vl -mavx512dq -mavx512bw -mavx2 -mfma $(LEAF_TSAN)
# Under ThreadSanitizer the leaf code that only reads and writes the buffers handed to it (the
# per-ISA kernels and the deflate compressor) is not instrumented (LEAF_TSAN): TSan checks each
# 32- or 64-byte vector access on its slow range path and every byte of deflate's match search,
# 75 % of a TSan training run and most of a TSan batch of figures, 18 of CI's 40 minutes (Zen 3,
# session 32). What TSan is there for, the thread pool and what sessions, models and the example
# programs' threads share, stays instrumented; which tile each thread's kernel writes is decided
# there too, and the tests compare 1- and 2-thread results bit for bit.
LEAF_TSAN := $(if $(filter thread,$(SANITIZE)),-fno-sanitize=thread)
$(B)/lib/image/deflate.o: XFLAGS := $(LEAF_TSAN)

# Library objects serve the archive and the shared library alike (on x86-64 -fPIC costs
# nothing over the default PIE code for hidden symbols; -fno-semantic-interposition lets
# calls between public functions inline as before).
$(B)/lib/%.o: LIBFLAGS := -fPIC -fvisibility=hidden -fno-semantic-interposition

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAGS) $(KFLAGS) $(XFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ) $(STAMP)
	@rm -f $@
	ar rcs $@ $(LIB_OBJ)

# -z defs: every symbol the library uses resolves at link time (not under the sanitizers,
# whose runtime supplies symbols to the executable).
SO_LDFLAGS := -shared -Wl,-soname,$(SONAME) $(if $(SANITIZE),,-Wl,-z,defs)
$(SO): $(LIB_OBJ) $(STAMP)
	$(CC) $(ALL_CFLAGS) $(SO_LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS_ALL)
lib/$(SONAME): $(SO)
	ln -sf $(notdir $(SO)) $@
lib/libgradcam.so: lib/$(SONAME)
	ln -sf $(SONAME) $@

examples/%: $(B)/examples/%.o $(COMMON_OBJ) $(LIB) $(STAMP)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(COMMON_OBJ) $(LIB) $(LDLIBS_ALL)

tools/%: $(B)/tools/%.o $(COMMON_OBJ) $(LIB) $(STAMP)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(COMMON_OBJ) $(LIB) $(LDLIBS_ALL)

$(B)/tests/%: $(B)/tests/%.o $(TESTCOMMON_OBJ) $(COMMON_OBJ) $(LIB) $(STAMP)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(TESTCOMMON_OBJ) $(COMMON_OBJ) $(LIB) $(LDLIBS_ALL)

# The example programs and gcw_inspect relinked with LeakSanitizer into $(B)/lsan/: make test
# runs their error paths there (tests/test_cli_errors.c). A normal build links gcc's
# standalone LeakSanitizer runtime (-fsanitize=leak: nothing is recompiled); a SANITIZE=1
# build already has it inside AddressSanitizer; ThreadSanitizer excludes it (the test then
# runs the plain programs and says so), as does a compiler that cannot link it.
LSAN_OK := $(shell printf 'int main(void){return 0;}' | $(CC) -fsanitize=leak -x c - -o /dev/null 2>/dev/null && echo 1)
LSAN_FLAGS := $(if $(LSAN_OK),-fsanitize=leak,)
LEAK_CHECK := $(if $(LSAN_OK),1,0)
ifeq ($(SANITIZE),1)
LSAN_FLAGS :=
LEAK_CHECK := 1
endif
ifeq ($(SANITIZE),thread)
LSAN_FLAGS :=
LEAK_CHECK := 0
endif
LSAN_BIN := $(EX_BIN:%=$(B)/lsan/%) $(B)/lsan/tools/gcw_inspect

$(B)/lsan/%: $(B)/%.o $(COMMON_OBJ) $(LIB) $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LSAN_FLAGS) -o $@ $< $(COMMON_OBJ) $(LIB) $(LDLIBS_ALL) $(LSAN_FLAGS)

$(B)/tests/test_cli_errors: $(LSAN_BIN)

# test_shared is linked against the shared library only (found through its run path), never
# the archive: it proves a program links and runs against the .so, and checks its exports.
# It also runs `make install` into a scratch DESTDIR with this configuration and links two
# programs through the installed .pc files.
$(B)/tests/test_shared: $(B)/tests/test_shared.o $(B)/tests/common/shell.o $(SO_LINKS) $(LIB) $(STAMP)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/tests/common/shell.o -Llib -lgradcam -Wl,-rpath,$(CURDIR)/lib $(LDLIBS_ALL) -ldl
$(B)/tests/test_shared.o: XFLAGS := -DGC_MAKE_ARGS='"SANITIZE=$(SANITIZE)"' \
	-DGC_PROG_FLAGS='"$(SANFLAGS)"' 
$(B)/tests/test_cli_errors.o: XFLAGS := -DGC_LEAK_CHECK=$(LEAK_CHECK)

# The Python binding loads lib/libgradcam.so; under the sanitizers its test skips itself.
$(B)/tests/test_python $(B)/tests/test_cluster: $(SO_LINKS) $(EX_BIN)
# test_gradcam_batch runs examples/gradcam (also with T=gradcam_batch).
$(B)/tests/test_gradcam_batch: examples/gradcam
$(B)/tests/test_cluster.o: XFLAGS := $(if $(SANITIZE),-DGC_SANITIZED)
$(B)/tests/test_python.o: XFLAGS := $(if $(SANITIZE),-DGC_SANITIZED) \
	-DGC_MAKE_ARGS='"SANITIZE=$(SANITIZE)"' 

# T=name restricts the run to tests/test_name.c
ifneq ($(T),)
TEST_RUN := $(B)/tests/test_$(T)
else
TEST_RUN := $(TEST_BIN)
endif

# (with T=, only that test is built: handy while other parts are mid-change)
test: $(if $(T),,all) check-header $(TEST_RUN)
	@sh tests/run.sh $(TEST_RUN)

# Speed (never part of make test): FMA peak, whole tasks, per-conv-layer GFLOP/s.
bench: all
	./tools/gcbench

# The main job (see README): explain the shipped sample images with the
# shipped model (trained by this engine: weights/README.md) into demo-out/.
demo: all
	@rm -rf demo-out && mkdir -p demo-out
	./examples/gradcam weights/shapes.gcw examples/data/shape*.png --counterfactual -o demo-out
	./examples/gradcam weights/shapes.gcw examples/data/pair*.png -k 2 --counterfactual -o demo-out
	./examples/gradcam weights/fashion.gcw examples/data/fashion/fashion*.png -k 2 -o demo-out/fashion
	./examples/gradcam weights/fashion.gcw examples/data/fashion/cluttered00000.png --crop 112x112 -c 9 -o demo-out/fashion
	./examples/gradcam weights/fashion.gcw examples/data/fashion/cluttered00001.png --crop 112x112 -c 2 -o demo-out/fashion
	./examples/gradcam weights/fashion.gcw examples/data/fashion/cluttered00002.png --crop 112x112 -c 1 -o demo-out/fashion
	@echo "demo: figures in demo-out/ and demo-out/fashion/ (<image>_c<class>_figure.png), maps as .npy, predictions in <image>.json"
	@echo "      (cluttered canvases: Grad-CAM of the item's true class, the class in examples/data/fashion/cluttered.csv)"

# The paper's evaluations on a held-out synthetic test set, then every method of gc_explain
# side by side and the cascading-randomisation sanity check (docs/evaluation.md).
eval: all
	./examples/evaluate --model weights/shapes.gcw --out eval-out
	./examples/evaluate --model weights/shapes.gcw --methods all --n 100 --n2 50 --occlusion-images 50 \
		--curve-images 50 --out eval-out/methods --quiet
	./examples/sanity --model weights/shapes.gcw --methods all --n 10 --out eval-out/sanity

# Fashion-MNIST experiments (docs/evaluation.md); need the Debian package dataset-fashion-mnist.
# The cluttered localisation benchmark, the adversarial attack, the bias experiment and the
# failure gallery, into eval-out/. Never part of make test.
FASHION_DATA ?= /usr/share/datasets/fashion-mnist
fashion-eval: fashion-bench fashion-adversarial fashion-bias fashion-failures
fashion-bench: all
	@mkdir -p eval-out
	./examples/cluttered_fashion --data $(FASHION_DATA) --out eval-out/cluttered --n 500
	./examples/evaluate --model weights/fashion.gcw --csv eval-out/cluttered/cluttered.csv --input-size 112 \
		--occlusion-images 0 --curve-images 100 --out eval-out/cluttered-report
fashion-adversarial: all
	@mkdir -p eval-out
	./examples/adversarial --model weights/fashion.gcw --data $(FASHION_DATA) --n 200 --out eval-out/adversarial
fashion-bias: all
	@mkdir -p eval-out
	./examples/bias --data $(FASHION_DATA) --out eval-out/bias
fashion-failures: all
	@mkdir -p eval-out
	./examples/failures --model weights/fashion.gcw --data $(FASHION_DATA) --out eval-out/failures
# weights/fashion.gcw again from its documented command (weights/README.md; 15-55 minutes on 2
# shared cores: run it under the heavy-job lock), compared bit for bit with the committed file.
fashion-reproduce: all
	@mkdir -p eval-out
	OMP_NUM_THREADS=2 ./examples/train_fashion --data $(FASHION_DATA) --out eval-out/fashion-reproduce.gcw
	cmp weights/fashion.gcw eval-out/fashion-reproduce.gcw
	@echo "fashion-reproduce: bit-identical to weights/fashion.gcw"
# Seconds: a 20-step training of the same network (1280 images, one epoch) against the sha256 the
# binary that reproduced weights/fashion.gcw gave. A mismatch means the training's arithmetic
# changed (kernel rounding, summation order), so the committed model no longer reproduces: retrain
# it. A match is evidence, not proof, that it still does. The portable kernels (a CPU without
# AVX2 + FMA) round differently, so the check is skipped there.
FASHION_QUICK_SHA256 := deae755eed8bfa3da5ac42ff207aad6299bffb156609c264cc062696855a53b1
fashion-reproduce-quick: all
	@mkdir -p eval-out
	@if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then \
		echo "fashion-reproduce-quick: skipped (no AVX2 + FMA: the portable kernels round differently)"; \
	else \
		./examples/train_fashion --data $(FASHION_DATA) --subset 1280 --epochs 1 --eval-every 0 --test-subset 100 \
			--quiet --out eval-out/fashion-quick.gcw && \
		echo "$(FASHION_QUICK_SHA256)  eval-out/fashion-quick.gcw" | sha256sum -c; \
	fi

# ONNX's own backend tests (Debian package libonnx-testdata) through tools/gcw_convert.py and
# the engine (tests/onnx_run.c): every test converts and matches its outputs, or is refused
# with one line; prints the counts (docs/onnx.md). Never part of make test.
ONNX_TESTDATA ?= /usr/share/libonnx-testdata/data
onnx-conformance: all $(B)/tests/onnx_run
	$(PYTHON) tests/onnx_conformance.py --data $(ONNX_TESTDATA) --run $(B)/tests/onnx_run

# The public header must stand on its own under the strictest flags.
check-header:
	@mkdir -p build
	@printf '#include "gradcam.h"\nint main(void){return 0;}\n' > build/check_header.c
	@$(CC) -std=c11 -pedantic -Wall -Wextra -Werror -Iinclude -c build/check_header.c -o build/check_header.o

# ---- fuzzing (clang libFuzzer + ASan + UBSan): make fuzz FUZZ_SECONDS=N
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_CFLAGS  := -std=c11 -g -O1 -Iinclude -Ilib -D_POSIX_C_SOURCE=200809L -Wno-unknown-pragmas \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                -DGC_SANITIZED_BUILD
FUZZ_OBJ     := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%_avx2.o:   XFLAGS := -mavx2 -mfma
build/fuzz/obj/%_avx512.o: XFLAGS := -mavx512f -mavx512vl -mavx512dq -mavx512bw -mavx2 -mfma
# fuzz_conv's oracle, the reference convolution loops, without coverage hooks (the list and why:
# tests/fuzz/coverage_ignore.txt): 6 December 2026, Zen 5, fuzz_conv from the seeds, 10 s runs,
# near placement: 364-382 -> 4745-5423 inputs (6194-6291 with its reference session on one
# thread, tests/fuzz/fuzz_conv.c)
build/fuzz/obj/lib/layers/conv2d.o: XFLAGS := -fsanitize-coverage-ignorelist=tests/fuzz/coverage_ignore.txt
build/fuzz/obj/lib/layers/conv2d.o: tests/fuzz/coverage_ignore.txt
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(XFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
build/fuzz/%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) -lm
-include $(FUZZ_OBJ:.o=.d)
fuzz: $(FUZZ_TARGETS:%=build/fuzz/%)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Installs the header, the archive, the shared library with its soname link and development
# link, and gradcam.pc: `pkg-config --libs gradcam` links the shared library, `--static` the
# archive's dependencies (OpenMP, libm), and gradcam-static.pc names the archive itself (a
# linker given -lgradcam prefers the .so). DESTDIR stages a package; PREFIX is what the .pc
# files record.
LIBDIR ?= $(PREFIX)/lib
install: $(LIB) $(SO_LINKS)
	mkdir -p $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LIBDIR)/pkgconfig
	cp include/gradcam.h $(DESTDIR)$(PREFIX)/include/
	cp $(LIB) $(SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SO)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libgradcam.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS_PRIVATE@|-lm -lpthread|' gradcam.pc.in \
		> $(DESTDIR)$(LIBDIR)/pkgconfig/gradcam.pc
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS_PRIVATE@|-lm -lpthread|' gradcam-static.pc.in \
		> $(DESTDIR)$(LIBDIR)/pkgconfig/gradcam-static.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/gradcam.h $(DESTDIR)$(LIBDIR)/libgradcam.a \
		$(DESTDIR)$(LIBDIR)/$(notdir $(SO)) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libgradcam.so $(DESTDIR)$(LIBDIR)/pkgconfig/gradcam.pc \
		$(DESTDIR)$(LIBDIR)/pkgconfig/gradcam-static.pc

clean:
	rm -rf build $(LIB) lib/libgradcam.so* $(EX_BIN) $(TOOL_BIN)

-include $(shell find build -name '*.d' 2>/dev/null)
