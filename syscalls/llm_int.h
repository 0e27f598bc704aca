/*
 * llm_int.h - helpers shared by the llm.*, sched.* and ctx.* syscall
 * files (private to syscalls/): the caller's identity for the LLM service
 * and the bridge from the service's callbacks to a kern_call.  Loop thread.
 */
#ifndef SYS_LLM_INT_H
#define SYS_LLM_INT_H

#include "aios/kernel.h"
#include "aios/llm.h"

/* Fill who from the call's identity (strings borrowed from the call). */
void sys__llm_caller(kern_call *c, llm_caller *who);
/* Describe a service error on the call; returns rc. */
int sys__llm_fail(kern_call *c, int rc, const llm_err *e);
/* Run a service command; its answer finishes the call (KERN_ASYNC) or the
 * error is returned at once. */
int sys__llm_command(kern_call *c, llm_cmd cmd, json_t *params);

#endif /* SYS_LLM_INT_H */
