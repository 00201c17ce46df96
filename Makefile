# The three commands: `make demo`, `make test` and `make serve`. Each creates .venv when missing and installs the package.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.biomedai-installed
PYTEST_ARGS ?=

.PHONY: install reference demo serve test test-slow test-all lint bench models viewer ohif clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test,serve,postgres,ray,meg]'
	@touch $(STAMP)

install: $(STAMP)

# PyRadiomics, the reference the radiomics tests and benchmark compare against (not a dependency;
# its sdist builds only without build isolation). Tests that need it skip when it is missing.
reference: $(STAMP)
	$(PY) -m pip install --quiet versioneer pykwalify six
	$(PY) -m pip install --quiet --no-build-isolation pyradiomics

demo: $(STAMP)
	$(VENV)/bin/biomedai demo --output demo-output

# real studies to seed beside the bundled samples when the shared data folder is there (read, never copied in)
SEED_DATA ?= $(wildcard ../shared/data)
serve: $(STAMP)
	$(VENV)/bin/biomedai serve --seed-samples $(if $(SEED_DATA),--seed-data $(SEED_DATA))

test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(VENV)/bin/pytest -m slow $(PYTEST_ARGS)

test-all: $(STAMP)
	$(VENV)/bin/pytest -m "slow or not slow" $(PYTEST_ARGS)

# Retrain every bundled model from the shared data with its recipe and seed, and rewrite its card
# (each within 60 minutes on two CPU cores; see the model's MODEL.md). SHARED_DATA: the data folder.
SHARED_DATA ?= ../shared/data
NUCLEI_RECIPE := --set variant=unetpp --set base_channels=16 --set split=all_sources --set crop_size=128 \
	--set batch_size=4 --set crops_per_tile=8 --set lr=0.002 --set epochs=12 --set val_every=2 --set device=cpu --set seed=0
NUCLEI_STAGE2 := --set variant=unetpp --set base_channels=16 --set split=all_sources --set crop_size=128 \
	--set batch_size=4 --set crops_per_tile=8 --set lr=0.001 --set epochs=40 --set max_minutes=20 --set val_every=2 \
	--set val_from=0.3 --set aug_stain=0.05 --set device=cpu --set seed=1
models: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/biomedai train nuclei_hannet --data $(SHARED_DATA)/nuclei -o runs/nuclei_default $(NUCLEI_RECIPE)
	OMP_NUM_THREADS=1 $(PY) benchmarks/quality/nuclei_hannet/bundle_default_model.py --run runs/nuclei_default \
		--data $(SHARED_DATA)/nuclei
	OMP_NUM_THREADS=1 $(VENV)/bin/biomedai train nuclei_hannet --data $(SHARED_DATA)/nuclei -o runs/nuclei_stage2 \
		--weights src/biomedai/methods/nuclei_hannet/models/default/weights.pt $(NUCLEI_STAGE2)
	OMP_NUM_THREADS=1 $(PY) benchmarks/quality/nuclei_hannet/select_default_model.py --run runs/nuclei_stage2 \
		--data $(SHARED_DATA)/nuclei

# numpy-style docstrings of the public layers (also a test: tests/test_docstyle.py)
lint: $(STAMP)
	$(VENV)/bin/ruff check --select D --ignore D401,D105 src/biomedai/io src/biomedai/data src/biomedai/metrics \
		src/biomedai/radiomics src/biomedai/stats src/biomedai/train

# The DICOM viewer's static bundle (Cornerstone3D, MIT), committed under src/biomedai/web/static/viewer/ so that
# installing and testing need no npm; rebuild it after changing viewer/src or viewer/package.json (node >= 20).
# CODECS=1 also bundles the WebAssembly decoders of compressed transfer syntaxes (~3 MB more).
viewer:
	cd viewer && npm ci --no-audit --no-fund && node build.mjs

bench: $(STAMP)
	$(VENV)/bin/biomedai bench

clean:
	rm -rf demo-output runs .pytest_cache build dist src/*.egg-info

# OHIF Viewer (MIT), a third-party DICOMweb viewer to point at the service (biomedai serve --ohif build/ohif/dist):
# the prebuilt dist/ of the npm package @ohif/app, fetched at build time into build/ohif/ (about 200 MB, never
# committed, never fetched at run time); its LICENSE is kept beside it.
OHIF_VERSION ?= 3.13.2
ohif:
	rm -rf build/ohif && mkdir -p build/ohif
	cd build/ohif && npm pack --silent @ohif/app@$(OHIF_VERSION) >/dev/null && tar xzf ohif-app-$(OHIF_VERSION).tgz \
		&& mv package/dist dist && mv package/LICENSE LICENSE && rm -rf package ohif-app-$(OHIF_VERSION).tgz
	@echo "OHIF $(OHIF_VERSION) in build/ohif/dist: biomedai serve --ohif build/ohif/dist (then open :3000/viewer?StudyInstanceUIDs=...&token=...)"
