# The two commands: `make demo` runs the whole thing locally, `make test` runs the whole test suite.
.PHONY: demo test stop setup bench faults

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

stop:
	bash scripts/stop.sh

setup:
	bash scripts/bootstrap.sh

bench:
	bash scripts/bench.sh

faults:
	bash scripts/test.sh -m faults
