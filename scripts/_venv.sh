# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh (from the repo root): create .venv
# if needed and keep its install in step with pyproject.toml. Reinstalling takes a
# while, so it only happens when pyproject.toml or the interpreter changed, which a
# stamp file inside .venv records. The install is editable, so code edits never
# need one. Set PYTHON to build the venv with another interpreter than python3.

ensure_venv() {
    local venv=.venv
    local stamp="$venv/.install-stamp"
    if ! "$venv/bin/python" -c '' 2>/dev/null; then
        echo "creating $venv"
        rm -rf "$venv"
        "${PYTHON:-python3}" -m venv "$venv"
    fi
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$venv/bin/python" -VV | tr -s ' ')"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        echo "installing the project into $venv (pyproject.toml changed or new venv)"
        rm -f "$stamp"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev,demo,ui,otel,metrics]"
        printf '%s\n' "$want" >"$stamp"
    fi
    VIRTUAL_ENV="$PWD/$venv"
    PATH="$VIRTUAL_ENV/bin:$PATH"
    export VIRTUAL_ENV PATH
}
