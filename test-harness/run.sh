#!/bin/bash
# Runs every unit test binary ($UNITDIR/test_*), then every end-to-end
# scenario (test-harness/scenarios/*.sh), from the repository root.
# Output passes through unchanged.  Counts the lines starting with "ok - "
# and "not ok - "; a unit binary or scenario that exits non-zero without
# printing any "not ok" line counts as one failure (so does one that runs
# into its time limit).  The last line is "N passed, N failed"; the exit
# status is non-zero when anything failed.
#
# Environment (set by "make test"):
#   MXGATE    the mxgate binary        UNITDIR  directory of unit binaries
#   PEERDIR   fake peer programs       SANITIZE 1 for the ASan/UBSan build
# Optional:
#   SCENARIOS   space-separated scenario names to run instead of all
#               (e.g. SCENARIOS="inbound config-check")
#   NO_UNIT=1   skip the unit binaries
#   UNIT_TIMEOUT, SCENARIO_TIMEOUT   seconds (defaults 300, 1800)

cd "$(dirname "$0")/.." || exit 2
TOP=$(pwd)

export MXGATE=${MXGATE:-$TOP/mxgate}
export UNITDIR=${UNITDIR:-$TOP/build/rel/unit}
export PEERDIR=${PEERDIR:-$TOP/build/rel/peers}
export SANITIZE=${SANITIZE:-0}
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-1800}

# Shared by the scenarios of this run: test certificates are made once.
T_RUNDIR=$(mktemp -d /tmp/mxgate-run.XXXXXX) || exit 2
chmod 755 "$T_RUNDIR"
export T_RUNDIR
trap 'rm -rf "$T_RUNDIR"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

passed=0
failed=0

# run_one NAME TIMEOUT COMMAND...
run_one() {
	name=$1
	limit=$2
	shift 2
	out=$T_RUNDIR/out.$$
	echo "# ---- $name"
	# The output goes to the terminal as it comes and to a file for counting.
	timeout --kill-after=30 "$limit" "$@" 2>&1 </dev/null | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(grep -c '^ok - ' "$out")
	f=$(grep -c '^not ok - ' "$out")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "not ok - $name: did not finish within $limit s"
		else
			echo "not ok - $name: exited with status $rc"
		fi
		failed=$((failed + 1))
	fi
	rm -f "$out"
}

if [ "${NO_UNIT:-0}" != 1 ]; then
	found=0
	for t in "$UNITDIR"/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		found=1
		run_one "unit/$(basename "$t")" "$UNIT_TIMEOUT" "$t"
	done
	if [ "$found" = 0 ]; then
		echo "# no unit test binaries in $UNITDIR"
	fi
fi

if [ -n "${SCENARIOS:-}" ]; then
	list=
	for s in $SCENARIOS; do
		list="$list test-harness/scenarios/${s%.sh}.sh"
	done
else
	list=$(ls test-harness/scenarios/*.sh 2>/dev/null)
fi
for s in $list; do
	if [ ! -f "$s" ]; then
		echo "not ok - $s: no such scenario"
		failed=$((failed + 1))
		continue
	fi
	run_one "$(basename "$s" .sh)" "$SCENARIO_TIMEOUT" bash "$s"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
