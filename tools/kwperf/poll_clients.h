/* kwperf's event loop over several kwire clients in one thread: what an application
 * with its own loop does (kw_client_fds, kw_client_next_timeout, kw_client_step). */
#ifndef KWPERF_POLL_CLIENTS_H
#define KWPERF_POLL_CLIENTS_H
#include "kwire.h"

/* One poll(2) over the sockets of the n clients (NULL entries are skipped), until the
 * earliest of their timers but at most timeout_ms, then a step of each client with what
 * is ready. 0, or a negative KW_ERR_*. */
int kwperf_poll_clients(kw_client *const *cls, int n, int timeout_ms);

#endif
