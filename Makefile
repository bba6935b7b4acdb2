# `make demo` and `make test` set everything up through `make install`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the project needs: espeak-ng (embedded server voice, ground truth),
# PortAudio (sounddevice), PulseAudio null sink (device tests), tmux (terminal test),
# chromium (overlay test), sox (audio inspection).
APT_PACKAGES := espeak-ng libespeak-ng1 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins tmux chromium sox

.PHONY: install system-deps test demo bench fuzz clean

install: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,voice,ray]'
	touch $@

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/captioner demo

bench: install
	$(BIN)/python benchmarks/timing.py

fuzz: install
	$(BIN)/python benchmarks/fuzz.py --events 1000000

clean:
	rm -rf $(VENV) out build *.egg-info
