"""Shell completion scripts for bash and zsh, written from the argument
parser itself (``coi-archive completion bash|zsh``), so a new command or
option completes without anyone editing a script.

One bash function serves both shells: zsh runs it through its
``bashcompinit`` layer (with ``KSH_ARRAYS`` so arrays count from 0 as in
bash).  It completes commands, their actions (``audit show``), options,
and the values of options with choices (``--format``, ``--kind``); where
nothing else fits (sources, ``--out``, ``--key``) the shell completes file
names.  Hand-written from the parser rather than argcomplete: that would
run Python (and import the package) on every Tab press, and the parser is
small and plain.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh")


@dataclass
class Level:
    """What one command path (``""``, ``"export"``, ``"audit show"``) accepts."""

    path: str
    options: list[str] = field(default_factory=list)
    subcommands: list[str] = field(default_factory=list)
    takes_value: list[str] = field(default_factory=list)  # options followed by a value
    choices: dict[str, list[str]] = field(default_factory=dict)  # option -> its values


def levels(parser: argparse.ArgumentParser, path: str = "") -> list[Level]:
    """Every command path of ``parser``, depth first."""
    level = Level(path)
    found = [level]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                level.subcommands.append(name)
                found += levels(sub, f"{path} {name}".strip())
            continue
        level.options += action.option_strings
        if action.option_strings and action.nargs not in (0, "?"):
            level.takes_value += action.option_strings
            if action.choices:
                for opt in action.option_strings:
                    level.choices[opt] = [str(c) for c in action.choices]
    level.options = sorted(set(level.options))
    return found


def _pattern(pairs: list[tuple[str, str]]) -> str:
    return "|".join(f'"{path}:{opt}"' for path, opt in pairs)


def bash_script(parser: argparse.ArgumentParser) -> str:
    """The completion function and its ``complete`` line."""
    prog = parser.prog
    fn = "_" + prog.replace("-", "_")
    all_levels = levels(parser)
    valued = _pattern([(lv.path, opt) for lv in all_levels for opt in lv.takes_value])
    steps = "\n".join(
        f'            "{lv.path}:{sub}") path="{(lv.path + " " + sub).strip()}";;'
        for lv in all_levels
        for sub in lv.subcommands
    )
    choices = "\n".join(
        f'        "{lv.path}:{opt}") COMPREPLY=($(compgen -W "{" ".join(vals)}" -- "$cur")); return;;'
        for lv in all_levels
        for opt, vals in lv.choices.items()
    )
    words = "\n".join(
        f'        "{lv.path}") opts="{" ".join(lv.options)}" subs="{" ".join(lv.subcommands)}";;' for lv in all_levels
    )
    return f"""# {prog} completion (written by `{prog} completion bash` from its argument parser)
{fn}() {{
    [[ -n ${{ZSH_VERSION-}} ]] && setopt localoptions ksharrays
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" path="" opts="" subs="" w i skip=0
    ((COMP_CWORD > 0)) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        if ((skip)); then skip=0; continue; fi
        if [[ $w == -* ]]; then
            case "$path:$w" in
                {valued or '"-"'}) skip=1;;
            esac
            continue
        fi
        case "$path:$w" in
{steps}
        esac
    done
    COMPREPLY=()
    case "$path:$prev" in
{choices}
        {valued or '"-"'}) return;;
    esac
    case "$path" in
{words}
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -n $subs ]]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    fi
}}
complete -o bashdefault -o default -F {fn} {prog}
"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    """The bash function, loaded through zsh's ``bashcompinit``."""
    return (
        f"#compdef {parser.prog}\n# zsh: the bash completion through bashcompinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser)
    )


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (one of :data:`SHELLS`)."""
    return bash_script(parser) if shell == "bash" else zsh_script(parser)
