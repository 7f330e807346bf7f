# dmarcd - the two commands of the README, and a few more.
#
#   make          build build/dmarcd
#   make run      install what is missing, build, start `dmarcd serve` on
#                 the defaults (data in ./var, SMTP on 127.0.0.1:2525, API and
#                 dashboard on 127.0.0.1:8080) with a catch-all account and
#                 demo data, and print the dashboard's login link;
#                 INPUT=path... is ingested first, SMTP=/HTTP=ADDR:PORT and
#                 DATA=folder change the defaults
#   make test     install what is missing, build, run every test: unit,
#                 golden, fuzz-corpus replay, CLI, then the same under
#                 ASan+UBSan, then short libFuzzer runs
#   make bench    the benchmarks of bench/ (see bench/README.md)
#   make fresh-check  `make run` and `make test` on a freshly bootstrapped
#                 Debian 12 (scripts/fresh-check.sh; root, minutes)

BUILD   ?= build
NPROC   := $(shell nproc 2>/dev/null || echo 2)
CMAKE   ?= cmake
DATA    ?= ./var

.PHONY: all build deps run test test-unit test-asan test-fuzz bench clean format fresh-check

all: build

build:
	@scripts/deps.sh build
	@$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(CMAKE) --build $(BUILD) -j $(NPROC)

run: build
	@scripts/run.sh $(BUILD) $(DATA) $(INPUT)

test:
	@scripts/deps.sh test
	@scripts/test.sh

bench: build
	@scripts/deps.sh bench
	@BUILD=$(BUILD) bench/run.sh

fresh-check:
	@scripts/fresh-check.sh

format:
	@clang-format -i src/*/*.c src/*/*.h tests/unit/*.c fuzz/*.c bench/*.c

clean:
	rm -rf build build-asan build-tsan build-fuzz
