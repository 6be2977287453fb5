# mxgate — one plain Makefile.
#
#   make                 build ./mxgate (accelerated wolfSSL built once, cached)
#   make WOLFSSL=system  build against Debian's libwolfssl-dev instead
#   make test            build and run every test (unit + end to end)
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan
#   make fuzz            run each libFuzzer target for FUZZ_SECONDS
#   make demo            run the inbound and outbound demos on loopback and report
#   make deps            install missing packages (as root)
#   make bench           benchmarks against stunnel and HAProxy (bench/README.md)
#   make bench-profile   perf profiles of mxgate's bulk, handshake and relay paths

CC		?= cc
WOLFSSL		?= built
SANITIZE	?= 0
FUZZ_SECONDS	?= 30

B		:= build/$(if $(filter 1,$(SANITIZE)),san,rel)
WOLFDIR		:= build/wolfssl
WOLFPREFIX	:= $(WOLFDIR)/prefix

WARN		:= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
		   -Wmissing-prototypes -Wno-unused-parameter
CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 $(WARN) -D_GNU_SOURCE -Icommon -Iconfig -Iproxy
LDLIBS		:=

ifeq ($(SANITIZE),1)
CC		:= clang
CFLAGS		+= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer -O1
LDFLAGS		+= -fsanitize=address,undefined
endif

# Expanded when a recipe runs, not when make starts: on a fresh machine
# the packages are installed by the first rule that needs them.
DEPS_CFLAGS	= $(shell pkg-config --cflags libuv libcares 2>/dev/null)
DEPS_LIBS	= $(shell pkg-config --libs libuv libcares 2>/dev/null)

ifeq ($(WOLFSSL),system)
WOLF_CFLAGS	= $(shell pkg-config --cflags wolfssl 2>/dev/null) -DMXGATE_WOLFSSL_SYSTEM
WOLF_LIBS	= $(shell pkg-config --libs wolfssl 2>/dev/null)
WOLF_DEP	:=
else
WOLF_CFLAGS	:= -I$(WOLFPREFIX)/include
WOLF_LIBS	:= $(WOLFPREFIX)/lib/libwolfssl.a -lm
WOLF_DEP	:= $(WOLFPREFIX)/lib/libwolfssl.a
endif

COMMON_SRC	:= $(wildcard common/*.c)
CONFIG_SRC	:= $(wildcard config/*.c)
PROXY_SRC	:= $(wildcard proxy/*.c)
UNIT_SRC	:= $(wildcard test-harness/unit/test_*.c)
PEER_SRC	:= $(wildcard test-harness/peers/*.c)
FUZZ_SRC	:= $(wildcard test-harness/fuzz/fuzz_*.c)

LIB_OBJ		:= $(patsubst %.c,$(B)/%.o,$(COMMON_SRC) $(CONFIG_SRC))
PROXY_OBJ	:= $(patsubst %.c,$(B)/%.o,$(PROXY_SRC))
# Unit tests link everything but main(): pure modules live in proxy/ too.
TEST_OBJ	:= $(LIB_OBJ) $(filter-out $(B)/proxy/main.o,$(PROXY_OBJ))
UNIT_BIN	:= $(patsubst test-harness/unit/%.c,$(B)/unit/%,$(UNIT_SRC))
PEER_BIN	:= $(patsubst test-harness/peers/%.c,$(B)/peers/%,$(PEER_SRC))
FUZZ_BIN	:= $(patsubst test-harness/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))

ifeq ($(SANITIZE),1)
MXGATE		:= $(B)/mxgate
else
MXGATE		:= mxgate
endif

.PHONY: all test unit fuzz demo deps clean distclean wolfssl bench bench-tools \
		bench-profile

all: $(MXGATE)

deps:
	scripts/install-deps.sh test

wolfssl: $(WOLF_DEP)

# The script keeps a stamp of its option set (and of the random source it
# links in) and rebuilds only when that changed; only a changed script or
# source can change it.
$(WOLFPREFIX)/lib/libwolfssl.a: scripts/build-wolfssl.sh scripts/wolfssl-rand.c
	scripts/install-deps.sh build
	scripts/build-wolfssl.sh $(WOLFDIR)

$(B)/%.o: %.c $(WOLF_DEP) $(wildcard common/*.h config/*.h proxy/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WOLF_CFLAGS) $(DEPS_CFLAGS) -c -o $@ $<

$(MXGATE): $(PROXY_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(WOLF_LIBS) $(DEPS_LIBS) -lpthread $(LDLIBS)

$(B)/unit/%: test-harness/unit/%.c $(TEST_OBJ) test-harness/unit/t.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WOLF_CFLAGS) $(DEPS_CFLAGS) -Itest-harness/unit $(LDFLAGS) -o $@ $< $(TEST_OBJ) $(WOLF_LIBS) $(DEPS_LIBS) -lpthread

$(B)/peers/%: test-harness/peers/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WOLF_CFLAGS) $(DEPS_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(WOLF_LIBS) $(DEPS_LIBS) -lpthread

build/fuzz/%: test-harness/fuzz/%.c $(COMMON_SRC) $(CONFIG_SRC)
	@mkdir -p $(dir $@)
	clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Icommon -Iconfig -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(COMMON_SRC) $(CONFIG_SRC)

unit: $(UNIT_BIN)

test: $(MXGATE) $(UNIT_BIN) $(PEER_BIN)
	scripts/install-deps.sh test
	MXGATE=$(abspath $(MXGATE)) UNITDIR=$(abspath $(B)/unit) PEERDIR=$(abspath $(B)/peers) \
	    SANITIZE=$(SANITIZE) test-harness/run.sh

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	    n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	    echo "== $$n ($(FUZZ_SECONDS)s)"; \
	    if ! $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 build/fuzz/corpus-$$n \
	        test-harness/fuzz/seeds/$$n >build/fuzz/$$n.log 2>&1; then \
	        tail -30 build/fuzz/$$n.log; echo "$$n: FAILED (log: build/fuzz/$$n.log)"; exit 1; \
	    fi; \
	    tail -1 build/fuzz/$$n.log; \
	done

demo: $(MXGATE) $(PEER_BIN)
	scripts/install-deps.sh test
	MXGATE=$(abspath $(MXGATE)) test-harness/demo.sh
	MXGATE=$(abspath $(MXGATE)) PEERDIR=$(abspath $(B)/peers) test-harness/demo-outbound.sh

# Benchmark load tools: one binary per bench/tools/*.c, sharing bench/tools/lib.
BENCH_SRC	:= $(wildcard bench/tools/*.c)
BENCH_LIB	:= $(wildcard bench/tools/lib/*.c)
BENCH_BIN	:= $(patsubst bench/tools/%.c,build/bench/%,$(BENCH_SRC))

bench-tools: $(BENCH_BIN)

build/bench/%: bench/tools/%.c $(BENCH_LIB) $(wildcard bench/tools/lib/*.h) $(WOLF_DEP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WOLF_CFLAGS) -Ibench/tools/lib $(LDFLAGS) -o $@ $< $(BENCH_LIB) $(WOLF_LIBS)

# Installs the peers (stunnel4, haproxy, dnsmasq) and the build
# dependencies first, then builds with the packages in place.
bench:
	bench/install-deps.sh
	$(MAKE) $(MXGATE) bench-tools
	MXGATE=$(abspath $(MXGATE)) TOOLS=$(abspath build/bench) bench/run.sh

# perf profiles of mxgate in the bulk, handshake and plain relay cases.
bench-profile:
	bench/install-deps.sh
	$(MAKE) $(MXGATE) bench-tools
	MXGATE=$(abspath $(MXGATE)) TOOLS=$(abspath build/bench) bench/profile.sh

clean:
	rm -rf build/rel build/san build/fuzz mxgate

distclean:
	rm -rf build mxgate
