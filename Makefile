# Roundhouse: the two commands of the quick start, and a few helpers.
#   make demo   install what is missing, build, start broker + central + two simulated
#               controllers under ./demo, print the URLs   (make demo-stop ends it)
#   make check  install, build, run every test, then the suite again under ASan + UBSan
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
CTEST_ARGS ?=

.PHONY: all deps build build-asan check test test-asan demo demo-stop clean format

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
test-asan: build-asan
	cd $(ASAN_BUILD) && \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

check: test test-asan

demo: build
	@scripts/demo.sh start $(BUILD)/bin

demo-stop:
	@scripts/demo.sh stop

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
