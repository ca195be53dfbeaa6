.PHONY: run test test-deps

# Install the exporter and run it on its embedded default config (port 9731).
run:
	python3 -m pip install -q . && python3 -m exporter

# Install everything the tests need (Debian tools included) and run the whole suite.
test: test-deps
	python3 -m pytest

test-deps:
	./scripts/install-test-deps.sh
