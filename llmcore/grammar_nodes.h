/*
 * grammar_nodes.h - the table of node-kind behaviours (private to the
 * grammar; see grammar_nodes.c).
 */
#ifndef LLM_GRAMMAR_NODES_H
#define LLM_GRAMMAR_NODES_H

#include "llmcore/grammar_int.h"

typedef struct gk_ops {
    /* a fresh frame of node nd; carg comes from the parent's push */
    void (*init)(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t carg);
    /* consume byte b: GS_OK, GS_REJECT, GS_POP (ended before b, b not
     * consumed) or GS_PUSH (*child / *carg to push, b not consumed);
     * budget = frames that may still be pushed above f */
    int (*step)(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                uint32_t *child, uint32_t *carg);
    void (*child_done)(const llm_grammar *g, const gnode *nd, gframe *f, const gframe *c);
    bool (*complete)(const llm_grammar *g, const gnode *nd, const gframe *f);
    bool (*finished)(const llm_grammar *g, const gnode *nd, const gframe *f);
    /* next move towards finishing: GF_BYTE (*b), GF_PUSH (*child) or GF_POP */
    int (*fin)(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
               uint8_t *b, uint32_t *child);
    /* canonical frame and budget for the mask cache */
    void (*norm)(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t *budget);
} gk_ops;

extern const gk_ops llm_grammar__ops[GK__COUNT];

#endif /* LLM_GRAMMAR_NODES_H */
