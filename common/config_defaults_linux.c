#include "common/config.h"

/* Linux host backend: runc on overlayfs bundles, CNI from Debian's and upstream's dirs. */
static const char default_text[] =
    "{\n"
    "  \"root\": \"/var/lib/wincri\",\n"
    "  \"state\": \"/run/wincri\",\n"
    "  \"listen\": \"unix:///run/wincri/wincri.sock\",\n"
    "  \"log_level\": \"info\",\n"
    "  \"shutdown_grace_seconds\": 10,\n"
    "  \"default_runtime_handler\": \"runc\",\n"
    "  \"runtime_handlers\": {\n"
    "    \"runc\": {\"runtime\": \"runc\"},\n"
    "    \"crun\": {\"runtime\": \"crun\"}\n"
    "  },\n"
    "  \"cni_conf_dir\": \"/etc/cni/net.d\",\n"
    "  \"cni_bin_dirs\": [\"/opt/cni/bin\", \"/usr/lib/cni\"],\n"
    "  \"windows_nat\": {\"enabled\": true, \"network\": \"wincri-nat\",\n"
    "                  \"subnet\": \"172.30.0.0/16\", \"gateway\": \"172.30.0.1\"},\n"
    "  \"streaming\": {\"address\": \"127.0.0.1\", \"port\": 0, \"tls_cert\": \"\", \"tls_key\": "
    "\"\"},\n"
    "  \"images\": {\"max_concurrent_downloads\": 4, \"progress_interval_seconds\": 5,\n"
    "                 \"stall_timeout_seconds\": 60},\n"
    "  \"metrics\": {\"address\": \"\"},\n"
    "  \"registries\": {},\n"
    "  \"fault_injection\": {\"rpc_delay_ms\": {}}\n"
    "}\n";

const char *wc_config_default_text(void)
{
    return default_text;
}
