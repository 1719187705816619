// libyaml (Debian's libyaml-dev): the YAML parser the configuration loader reads events from.
#include <yaml.h>
