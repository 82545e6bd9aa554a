# Entry points. Both work on a fresh Debian 12 machine as root: they install
# what is missing (apt-get), configure, build, then run or test.
#
#   make run     build (release) and run the shipped rules (root)
#   make test    build with ASan+UBSan and run every test, fuzzing included
#   make fuzz    run every libFuzzer target for FUZZ_SECONDS each (default 300)
#   make test-plain  the tests that load into the kernel or run the binary, and
#                the packs' own cases, in a build without sanitizers, as users
#                run it (build/plain); CI runs it after `make test`
#   make bench   build (release) and print the benchmark figures
#   make golden  rewrite the golden files from the current output (review the diff!)
#   make install install the binary, packs, stdlib, man page, bash completion, the
#                systemd unit and contrib/ (Prometheus rules, Grafana dashboard,
#                Kubernetes manifests) under PREFIX (default /usr/local)
#   make test-vm build like `make test`, then run VM_TESTS inside a QEMU guest
#                booting a stock Debian kernel (KERNEL=6.1 or 6.12; tests/vm/README.md)

SHELL := /bin/bash
JOBS ?= $(shell nproc)
RELEASE := build/release
DURATION ?= 10s
TESTBUILD := build/test
CMAKE_COMMON := -G "Unix Makefiles" -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14

# Debian 12 packages the build, the tests and the runtime need.
DEPS := cmake make pkg-config clang-14 llvm-14-dev libclang-14-dev libclang-cpp14-dev libclang-rt-14-dev \
        libbpf-dev libelf-dev liblzma-dev libzstd-dev zlib1g-dev bpftool tao-pegtl-dev libtomlplusplus-dev \
        libfmt-dev libcli11-dev nlohmann-json3-dev libmnl-dev libnftables-dev libip4tc-dev libgtest-dev libgmock-dev iproute2 iptables nftables python3 python3-scapy \
        prometheus-cpp-dev libsystemd-dev prometheus curl systemd python3-yaml libpcap-dev tshark

# For the VM tier (and the packs' check against Debian's kernels in `make
# test`, which extracts their BTF with the same tool): QEMU, the initramfs'
# busybox, zstd for 6.12's kernel image.
VM_DEPS := qemu-system-x86 busybox-static zstd
DEPS += $(VM_DEPS)
KERNEL ?= 6.1
VM_TESTS ?= $(TESTBUILD)/tests/e2e/vm_e2e_tests

PREFIX ?= /usr/local

.PHONY: all deps build run test test-plain fuzz test-vm kernel-matrix bench golden clean install

all: build

deps:
	@missing=$$(for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing missing packages:" $$missing; \
	  sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(RELEASE) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTD_TESTS=OFF
	cmake --build $(RELEASE) -j$(JOBS)

# Runs the shipped packs for DURATION (root and BPF needed); run
# `build/release/rtrace-drop run` directly to go on until Ctrl-C.
run: build
	$(RELEASE)/rtrace-drop run --duration $(DURATION)

test: deps
	cmake -S . -B $(TESTBUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTD_SANITIZE=ON -DRTD_FUZZ=ON -DRTD_BENCH=OFF
	cmake --build $(TESTBUILD) -j$(JOBS)
	cd $(TESTBUILD) && ctest --output-on-failure -j$(JOBS)

PLAINBUILD := build/plain
test-plain: deps
	cmake -S . -B $(PLAINBUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTD_UNIT_TESTS=OFF -DRTD_BENCH=OFF
	cmake --build $(PLAINBUILD) -j$(JOBS)
	cd $(PLAINBUILD) && ctest --output-on-failure -j$(JOBS)

FUZZ_SECONDS ?= 300
fuzz: deps
	cmake -S . -B $(TESTBUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTD_SANITIZE=ON -DRTD_FUZZ=ON -DRTD_BENCH=OFF
	cmake --build $(TESTBUILD) -j$(JOBS)
	cd $(TESTBUILD) && RTD_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest -R _fuzz_bounded --output-on-failure

# One VM for the whole suite (TCG emulation is slow); vm.sh prints boot and run times.
test-vm:
	@$(MAKE) --no-print-directory deps DEPS="$(DEPS) $(VM_DEPS)"
	cmake -S . -B $(TESTBUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTD_SANITIZE=ON -DRTD_FUZZ=ON -DRTD_BENCH=OFF
	cmake --build $(TESTBUILD) -j$(JOBS)
	@# An object built here, on the host's kernel, for the guest to run without a compiler.
	$(TESTBUILD)/rtrace-drop build rules/tcp rules/ip rules/netfilter -o $(TESTBUILD)/vm-prebuilt.rdo
	@# VM_TESTS, then the packs' cases of the function-probe rules (tests/vm/vm_suite.sh).
	RTRACE_DROP_REQUIRE_KERNEL=1 RTD_VM_PREBUILT=$(CURDIR)/$(TESTBUILD)/vm-prebuilt.rdo VM_ENV="RTD_VM_PREBUILT RTD_VM_PACK_CASES" \
	  tests/vm/vm.sh run $(KERNEL) -- tests/vm/vm_suite.sh $(TESTBUILD)/rtrace-drop $(VM_TESTS)

# The rule x kernel matrix (docs/KERNELS.md, rules/*/tests/matrix.json): every
# pack's cases here and in the 6.1 and 6.12 guests, by the binary users run
# (no sanitizers: the guests are slow). Root; 10-20 minutes.
kernel-matrix:
	@$(MAKE) --no-print-directory deps DEPS="$(DEPS) $(VM_DEPS)"
	cmake -S . -B $(PLAINBUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(PLAINBUILD) -j$(JOBS) --target rtrace-drop
	tests/vm/kernel_matrix.sh $(PLAINBUILD)/rtrace-drop

# The micro benchmarks, then bench/bench_all.sh: every figure of issue 9 next
# to bpftrace (start-up, CPU per drop, event path, iperf3 quiet path, memory,
# scale) as one markdown table, also written to BENCH_OUT. About 7 minutes on
# a 2-core VM; root. bench/run_bench.sh and bench/drop_cost.sh still run alone.
BENCH_OUT ?= $(RELEASE)/bench-latest.md
bench: build
	$(RELEASE)/bench/parse_bench
	$(RELEASE)/bench/pipeline_bench 20
	$(RELEASE)/bench/compile_bench
	$(RELEASE)/bench/monitor_bench
	@$(MAKE) --no-print-directory deps DEPS="bpftrace bc iperf3 time"
	BENCH_OUT=$(BENCH_OUT) bench/bench_all.sh $(RELEASE)

golden: deps
	cmake -S . -B $(TESTBUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTD_SANITIZE=ON -DRTD_FUZZ=ON -DRTD_BENCH=OFF
	cmake --build $(TESTBUILD) -j$(JOBS) --target compiler_tests
	RTRACE_DROP_UPDATE_GOLDEN=1 $(TESTBUILD)/tests/compiler_tests --gtest_filter='Corpus*:Golden*:TypeCheck/*:Codegen/*'
	cmake --build $(TESTBUILD) -j$(JOBS) --target rtrace-drop
	$(TESTBUILD)/rtrace-drop list --markdown rules > docs/rules.md

install: build
	cmake --install $(RELEASE) --prefix $(PREFIX)

clean:
	rm -rf build
