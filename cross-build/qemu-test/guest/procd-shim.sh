# Stand-ins for procd's shell API (sourced before an OpenWrt init script), for a guest without
# procd: they record the instance's command and environment instead of sending them to procd.
# After start_service, PROCD_COMMAND holds the command (each word single-quoted, for eval) and
# PROCD_ENV the environment ("K=V" words, quoted the same way).
PROCD_COMMAND=
PROCD_ENV=
PROCD_INSTANCES=0
_procd_param=

# Single-quotes one word for eval.
_procd_quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

procd_open_instance() { PROCD_INSTANCES=$((PROCD_INSTANCES + 1)); }
procd_close_instance() { :; }
procd_set_param() {
  _procd_param=$1
  shift
  case $_procd_param in
    command) PROCD_COMMAND= ;;
    env) PROCD_ENV= ;;
  esac
  procd_append_param "$_procd_param" "$@"
}
procd_append_param() {
  _procd_param=$1
  shift
  for _w in "$@"; do
    case $_procd_param in
      command) PROCD_COMMAND="$PROCD_COMMAND $(_procd_quote "$_w")" ;;
      env) PROCD_ENV="$PROCD_ENV $(_procd_quote "$_w")" ;;
    esac
  done
}
# Triggers, jails, data and the like mean nothing without procd.
procd_add_reload_trigger() { :; }
procd_add_interface_trigger() { :; }
procd_add_config_trigger() { :; }
procd_add_raw_trigger() { :; }
procd_open_trigger() { :; }
procd_close_trigger() { :; }
procd_add_jail() { :; }
procd_add_jail_mount() { :; }
procd_add_jail_mount_rw() { :; }
procd_set_limits() { :; }
procd_open_data() { :; }
procd_close_data() { :; }
procd_kill() { :; }
procd_send_signal() { :; }
procd_running() { return 1; }

# /lib/functions.sh's UCI readers, over the one config file the test uses (no uci binary here):
# config_load <name> reads /etc/config/<name>; config_get <var> <section> <option> [default].
config_load() { _procd_uci=/etc/config/$1; }
config_get() {
  _v=$(awk -v sec="$2" -v opt="$3" '
    $1 == "config" { gsub(/'\''|"/, "", $3); cur = $3 }
    $1 == "option" && cur == sec && $2 == opt { v = $0; sub(/^[ \t]*option[ \t]+[^ \t]+[ \t]+/, "", v); gsub(/^'\''|'\''$|^"|"$/, "", v); print v; exit }
  ' "$_procd_uci")
  if [ -n "$_v" ]; then eval "$1=\$_v"; else eval "$1=\$4"; fi
}
config_get_bool() {
  config_get "$1" "$2" "$3" "$4"
  eval "case \$$1 in 1|on|true|yes|enabled) $1=1 ;; *) $1=0 ;; esac"
}
