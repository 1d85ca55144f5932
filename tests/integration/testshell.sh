#!/bin/sh
# The shell persh runs in the integration tests (conftest writes its path into
# [session] shell): bash with no rc files, no history, no bracketed paste and
# a fixed prompt, so that tests can match its output.
dir=${0%/*}
PS1='tsh$ '
PS2='> '
HISTFILE=/dev/null
INPUTRC=$dir/inputrc
export PS1 PS2 HISTFILE INPUTRC
unset PROMPT_COMMAND ENV BASH_ENV
exec bash --norc --noprofile +o history -i
