/*
 * kern_proc.h - the handlers of the proc.* syscalls and the process table's
 * hooks for the daemon (private to the kernel; rows in syscalls/proc.c).
 * Loop thread.
 */
#ifndef KERN_PROC_H
#define KERN_PROC_H

#include <stdbool.h>

#include "aios/kernel.h"

int kern__proc_spawn(kern_call *c, json_t *params, json_t **result);
int kern__proc_list(kern_call *c, json_t *params, json_t **result);
int kern__proc_info(kern_call *c, json_t *params, json_t **result);
int kern__proc_kill(kern_call *c, json_t *params, json_t **result);
int kern__proc_wait(kern_call *c, json_t *params, json_t **result);
int kern__proc_logs(kern_call *c, json_t *params, json_t **result);
int kern__proc_setprio(kern_call *c, json_t *params, json_t **result);

json_t *kern__proc_stats(void);
bool kern__proc_children_alive(void);
void kern__proc_kill_all(void);
void kern__proc_free_all(void);

/* sys.* handlers (sysinfo.c) and confirmations (confirm.c) */
int kern__sys_ping(kern_call *c, json_t *params, json_t **result);
int kern__sys_hello(kern_call *c, json_t *params, json_t **result);
int kern__sys_info(kern_call *c, json_t *params, json_t **result);
int kern__sys_methods(kern_call *c, json_t *params, json_t **result);
int kern__sys_stats(kern_call *c, json_t *params, json_t **result);
int kern__sys_shutdown(kern_call *c, json_t *params, json_t **result);
int kern__sys_reload(kern_call *c, json_t *params, json_t **result);
int kern__sys_confirm(kern_call *c, json_t *params, json_t **result);
int kern__sys_confirmations(kern_call *c, json_t *params, json_t **result);
int kern__sys_confirm_wait(kern_call *c, json_t *params, json_t **result);

/* Subsystem rows known to the daemon (main.c), for sys.info/sys.stats. */
size_t kern__subsys_count(void);
const kern_subsys *kern__subsys_at(size_t i);
bool kern__subsys_ok(size_t i);

/* Ask the daemon to shut down (as on SIGTERM) / reload (as on SIGHUP). */
void kern__request_shutdown(const char *why);
int kern__reload(char *err, size_t errlen);

#endif /* KERN_PROC_H */
