#include "common/config.h"

/* Windows: HCS handlers named as containerd names them, so kubelet RuntimeClasses carry over. */
static const char default_text[] =
    "{\n"
    "  \"root\": \"C:\\\\ProgramData\\\\wincri\",\n"
    "  \"state\": \"C:\\\\ProgramData\\\\wincri\\\\state\",\n"
    "  \"listen\": \"npipe:////./pipe/wincri\",\n"
    "  \"log_level\": \"info\",\n"
    "  \"shutdown_grace_seconds\": 10,\n"
    "  \"default_runtime_handler\": \"runhcs-wcow-process\",\n"
    "  \"runtime_handlers\": {\n"
    "    \"runhcs-wcow-process\": {\"isolation\": \"process\"},\n"
    "    \"runhcs-wcow-hypervisor\": {\"isolation\": \"hyperv\"}\n"
    "  },\n"
    "  \"cni_conf_dir\": \"C:\\\\etc\\\\cni\\\\net.d\",\n"
    "  \"cni_bin_dirs\": [\"C:\\\\opt\\\\cni\\\\bin\"],\n"
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
