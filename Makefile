# Roundhouse: the two commands of the quick start, and a few helpers.
#   make demo   install what is missing, build, start broker + central + two simulated
#               controllers under ./demo, print the URLs   (make demo-stop ends it)
#   make check  install, build, run every test, then the suite again under ASan + UBSan
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
RELEASE_BUILD ?= build-release
FUZZ_SECONDS ?= 10
JOBS       ?= 2
CTEST_ARGS ?=

.PHONY: all deps build build-asan build-release build-fuzz build-matrix check format-check lint \
        test test-asan test-release test-arm test-containers images-arm test-ansible fuzz demo demo-stop clean \
        format

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DROUNDHOUSE_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

# Sanitizer findings fail the run: ASan aborts with a non-zero exit, UBSan is built with
# -fno-sanitize-recover, and the integration harness also fails a test whose programs
# printed a sanitizer report.
# The integration tests on PostgreSQL (label pg) run in the plain build only, to keep make check
# short; the store's unit test covers both backends here too.
test-asan: build-asan
	cd $(ASAN_BUILD) && \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -j$(JOBS) -LE pg $(CTEST_ARGS)

# A third build, of another type and with the other compiler (clang, Release): the optimiser's
# warnings differ by build type and compiler, and each must stay warning-free. Its unit tests
# run too. `make build-matrix` builds all eight (gcc and clang x four build types).
build-release: deps
	cmake -S . -B $(RELEASE_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE_BUILD) -j$(JOBS)

test-release: build-release
	cd $(RELEASE_BUILD) && ctest --output-on-failure -j$(JOBS) -L unit

# The Pi builds: every program cross-built for armhf (32-bit) and arm64 with Debian's cross
# compilers, unit tests and the edge's integration tests under qemu-user (scripts/test-arm.sh).
ARM_ARCHES ?= armhf arm64
test-arm: build
	@scripts/install-cross-deps.sh $(ARM_ARCHES)
	@set -e; for a in $(ARM_ARCHES); do JOBS=$(JOBS) scripts/test-arm.sh $$a $(BUILD); done

# The container deployment (Dockerfile, deploy/compose.yaml, scripts/teardown) end to end:
# a private dockerd, a Debian 12 base made with debootstrap, the owner's rebuild and
# database-reset scenario, then the Raspberry Pi images of `make images-arm` checked and run
# under qemu-user-static (tests/containers/run.sh, docs/deploy.md). Needs root. Its cache
# (base tarball, docker data, the ARM builds) is in build-containers/.
test-containers:
	@JOBS=$(JOBS) tests/containers/run.sh

# The Raspberry Pi images (linux/arm64, linux/arm/v7) of the edge, the central and the broker,
# built on this machine without running ARM code: PREFIX-PROGRAM:VERSION-ARCH, their
# `docker save | gzip` archives in build-images/dist (for the Ansible role's
# roundhouse_image_archives) and one OCI index per program in build-images/oci (the multi-arch
# image, for a registry). scripts/build-images, docs/deploy.md; the docker daemon of DOCKER_HOST.
IMAGE_ARCHES  ?= arm64,armhf
IMAGE_VERSION ?=
images-arm:
	@JOBS=$(JOBS) scripts/build-images --arch $(IMAGE_ARCHES) --save build-images/dist \
	  --oci build-images/oci $(if $(IMAGE_VERSION),--version $(IMAGE_VERSION))

# The Ansible roles (deploy/ansible) against this machine, connection local: syntax check,
# check mode, file-only runs into a temporary directory, idempotence (tests/ansible/run.sh,
# docs/deploy.md). Installs Debian's ansible when missing; part of `make check`.
test-ansible:
	@tests/ansible/run.sh

build-matrix: deps
	@scripts/build-matrix.sh $(JOBS)

# Each libFuzzer target for FUZZ_SECONDS, starting from its seed corpus (fuzz/corpus/NAME);
# new inputs go to $(FUZZ_BUILD)/corpus, the committed seeds are not changed. A crash leaves
# its input as $(FUZZ_BUILD)/crash-* and fails the run. docs/operations.md: long runs.
build-fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DROUNDHOUSE_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_all

fuzz: build-fuzz
	@set -e; for t in $$(ls fuzz/corpus); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  if ! (cd $(FUZZ_BUILD) && ASAN_OPTIONS=detect_leaks=1 ./bin/$$t \
	        -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
	        corpus/$$t ../fuzz/corpus/$$t >$$t.log 2>&1); then \
	    tail -n 60 $(FUZZ_BUILD)/$$t.log; echo "fuzz: $$t FAILED"; exit 1; \
	  fi; \
	  grep -E '^#[0-9]+.*DONE' $(FUZZ_BUILD)/$$t.log || true; \
	done

# Fails on any file clang-format would change (make format applies it).
format-check: deps
	@out=$$(for f in $$(git ls-files '*.c' '*.h'); do \
	  clang-format --dry-run -Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	if [ -n "$$out" ]; then echo "format-check: clang-format would change:"; echo "$$out"; \
	  echo "(run make format)"; exit 1; fi; echo "format-check: every C file is formatted"

# cppcheck over every file the build compiles, with jansson's header so that its iteration
# macros are understood; zero findings allowed, every suppression inline with its reason.
CPPCHECK_FLAGS = --enable=warning,style,performance,portability --inline-suppr \
                 --suppress=missingIncludeSystem --include=/usr/include/jansson.h \
                 --error-exitcode=1 --quiet -j$(JOBS) \
                 --template='{file}:{line}: {severity}: {message} [{id}]'
# clang-tidy's curated set (.clang-tidy: bugprone, the static analyzer, unchecked results,
# functions over 80 lines) over the programs' sources; zero findings allowed.
lint: build
	cppcheck --project=$(BUILD)/compile_commands.json $(CPPCHECK_FLAGS)
	@echo "lint: cppcheck found nothing"
	@if ! run-clang-tidy -p $(BUILD) -quiet -j$(JOBS) '$(CURDIR)/src/' \
	    > $(BUILD)/clang-tidy.log 2>&1; then \
	  sed 's/\x1b\[[0-9;]*m//g' $(BUILD)/clang-tidy.log | grep -E -A3 ': (error|warning): '; \
	  echo "lint: clang-tidy found the above (whole log: $(BUILD)/clang-tidy.log)"; exit 1; fi
	@echo "lint: clang-tidy found nothing"

check: format-check lint test test-asan test-release test-arm test-containers test-ansible fuzz

# Only the three programs the demo runs, the build's output in demo/build.log (its end shown
# when it fails).
DEMO_BUILD ?= build-demo
demo: deps
	@mkdir -p demo
	@echo "demo: building roundhouse-central, roundhouse-edge and roundhouse (log: demo/build.log)"
	@if ! { cmake -S . -B $(DEMO_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROUNDHOUSE_TESTS=OFF \
	          -DROUNDHOUSE_FLEET=OFF && cmake --build $(DEMO_BUILD) -j$(JOBS); } >demo/build.log 2>&1; then \
	  tail -n 30 demo/build.log; echo "demo: the build failed (whole log: demo/build.log)"; exit 1; fi
	@scripts/demo.sh start $(DEMO_BUILD)/bin

demo-stop:
	@scripts/demo.sh stop

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(RELEASE_BUILD) $(FUZZ_BUILD) build-matrix build-armhf build-arm64 build-images $(DEMO_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
