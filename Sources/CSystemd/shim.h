#ifndef JOBCONTROL_CSYSTEMD_SHIM_H
#define JOBCONTROL_CSYSTEMD_SHIM_H
// libsystemd's daemon and journal APIs. The variadic sd_journal_send cannot be called from Swift;
// use sd_journal_sendv with an iovec array instead.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
