/*
 * grammar_int.h - the compiled automaton shared by grammar_vocab.c,
 * grammar_compile.c, grammar.c and grammar_tools.c (private to the grammar).
 *
 * A compiled schema is an array of nodes.  A running value of a node is a
 * frame (node id + three words of kind-specific state); a configuration is
 * a stack of frames (the bottom frame is the document's root value); the
 * state of a sequence is a small set of configurations (several only while an
 * anyOf is undecided).  Each node kind supplies a step function that
 * consumes one byte, asks for a child to be pushed, or reports that its value
 * ended before the byte (the byte then goes to the parent).
 */
#ifndef LLM_GRAMMAR_INT_H
#define LLM_GRAMMAR_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "llmcore/grammar.h"

#define G_MAX_DEPTH 64      /* frames in one configuration */
#define G_MAX_CONFIGS 64    /* configurations in one state */
#define G_MAX_PROPS 64      /* properties of one object */
#define G_NONE UINT32_MAX
#define G_INF UINT32_MAX    /* mindepth of an unsatisfiable node */
#define G_EXTRA 0xffffu     /* key result: an undeclared (additional) property */

/* Number limits: digits of the integer part, fraction and exponent. */
#define G_MAX_INT_DIGITS 15
#define G_MAX_FRAC_DIGITS 15
#define G_MAX_EXP_DIGITS 2

/* ---- vocabulary --------------------------------------------------------------- */

struct llm_gvocab {
    int n_vocab;
    char **bytes;          /* [n_vocab] copies */
    uint32_t *len;         /* [n_vocab] */
    uint8_t *excluded;     /* [n_vocab] special, empty, eog or too long */
    uint8_t *special;      /* [n_vocab] flagged special by the caller, or eog */
    int32_t *eog;          /* [n_eog] end-of-generation ids */
    int n_eog;
    uint32_t max_len;      /* longest token in the trie, bytes */
    /* token trie in preorder; node 0 is the root */
    uint32_t n_nodes;
    uint8_t *tb;           /* byte on the edge into the node */
    uint8_t *tdepth;       /* bytes from the root */
    uint32_t *tend;        /* one past the last node of the subtree */
    int32_t *ttok;         /* first token ending here, -1 if none */
    int32_t *tnext;        /* [n_vocab] next token with the same bytes, -1 */
    int32_t byte_tok[256]; /* a single-byte token per byte, -1 if none */
    struct gcache *shared; /* masks shared by every grammar on this vocabulary */
};

/* ---- nodes ------------------------------------------------------------------ */

enum gkind {
    GK_NEVER = 0, /* no value (unsatisfiable) */
    GK_LIT,       /* one of a set of literal byte strings (enum, const, true...) */
    GK_STR,       /* a JSON string with length limits */
    GK_FMT,       /* a string of a fixed format (date, time, date-time, uuid) */
    GK_NUM,       /* a JSON number or integer, optionally bounded */
    GK_ARR,       /* an array */
    GK_OBJ,       /* an object; properties in schema order */
    GK_KEY,       /* the key of an object's member */
    GK_ALT,       /* anyOf / oneOf / type lists: resolved when pushed */
    GK_ALIAS,     /* a $ref not yet resolved (only while compiling) */
    GK_FREE,      /* free text (the plain answer of tool_choice=auto) */
    GK__COUNT
};

enum gfmt { GF_DATE = 1, GF_TIME, GF_DATETIME, GF_UUID };

/* A trie of literal strings or key names. */
typedef struct gtrie {
    uint32_t child;    /* first child or G_NONE */
    uint32_t sib;      /* next sibling or G_NONE */
    int32_t term;      /* >= 0: a string ends here (key: property index) */
    uint32_t fin;      /* child on a shortest path to an end, G_NONE at a leaf */
    uint64_t sub;      /* keys: bit i set when property i ends in this subtree */
    uint8_t byte;
} gtrie;

typedef struct gprop {
    uint32_t value;     /* node of the value */
    uint32_t required;  /* 1 when listed in "required" */
} gprop;

typedef struct gnode {
    uint8_t kind;
    uint8_t flags;
    uint32_t mindepth;  /* frames needed to finish a value (incl. its own) */
    union {
        struct { uint32_t root; } lit;
        struct { uint32_t min, max; } str;
        struct { uint32_t fmt; } fmt;
        struct { int64_t lo, hi; } num;          /* flags: GN_INTEGER, GN_BOUNDED */
        struct { uint32_t items, min, max, prefix, nprefix; } arr;
        struct { uint32_t props, nprops, additional, key; uint64_t reqmask; } obj;
        struct { uint32_t root, obj, maxmd; } key; /* flags: GN_EXTRAS */
        struct { uint32_t first, n; } alt;
        struct { uint32_t target; } alias;
    } u;
} gnode;

#define GN_INTEGER 0x01
#define GN_BOUNDED 0x02
#define GN_EXTRAS 0x04   /* key: undeclared names are allowed */
#define GN_NOBRACE 0x08  /* free text: must not start with '{' */

/* ---- frames and configurations --------------------------------------------- */

typedef struct gframe {
    uint32_t node, s, n, x;
} gframe;

/* step results */
enum { GS_REJECT = 0, GS_OK, GS_PUSH, GS_POP };
/* completion moves */
enum { GF_BYTE = 0, GF_PUSH, GF_POP };

/* A cached mask of one top-frame state: tokens that stay inside the frame
 * (or frames it pushes) and the trie nodes where the frame ends, which must
 * be checked against the frames below at run time. */
typedef struct gunc {
    uint32_t tnode;   /* trie node whose byte the parent must take */
    gframe f;         /* the frame as it ended */
} gunc;

#define G_KEY_WORDS 10

typedef struct gentry {
    uint32_t key[G_KEY_WORDS];  /* see cache_key() in grammar.c */
    uint32_t n_acc;       /* allowed tokens */
    uint32_t *acc_list;   /* sorted ids when sparse, else NULL */
    uint32_t *acc_bits;   /* bit mask when dense, else NULL */
    uint32_t n_unc;
    gunc *unc;
    struct gentry *next;  /* hash chain */
    size_t bytes;
} gentry;

/* A mask cache: a hash map of entries under one mutex.  Each grammar has
 * one for its own frames; each vocabulary has one shared by all grammars for
 * frames whose behaviour does not depend on the grammar (strings, numbers,
 * formats, free text with the same parameters). */
typedef struct gcache {
    pthread_mutex_t lock;
    gentry **buckets;
    uint32_t n_buckets;
    size_t bytes, limit;
    uint64_t hits, misses, entries, clears;
} gcache;

int llm_grammar__cache_init(gcache *c, size_t limit);
void llm_grammar__cache_destroy(gcache *c);

struct llm_grammar {
    int refs;
    const llm_gvocab *v;
    uint32_t ws_max;
    gnode *nodes;
    uint32_t n_nodes, cap_nodes;
    gprop *props;
    uint32_t n_props, cap_props;
    uint32_t *alts;           /* alt lists and array prefix lists */
    uint32_t n_alts, cap_alts;
    gtrie *trie;
    uint32_t n_trie, cap_trie;
    uint32_t root;            /* root node (may be an ALT) */
    uint32_t any_value;       /* shared "any JSON value" node, G_NONE until built */
    uint32_t any_object;      /* shared "any JSON object" node */
    uint32_t max_md;          /* largest finite mindepth */
    uint32_t max_height;      /* most frames a value can stack, G_MAX_DEPTH if unbounded */
    uint64_t ident;           /* fingerprint checked by restore */
    gcache cache;             /* masks of this grammar's own frames */
};

/* Helpers shared by the grammar files. */
uint32_t llm_grammar__add_node(llm_grammar *g, uint8_t kind);
uint32_t llm_grammar__trie_new(llm_grammar *g);
int llm_grammar__trie_add(llm_grammar *g, uint32_t root, const char *s, size_t n, int32_t term);
void llm_grammar__trie_finish(llm_grammar *g, uint32_t root_from);
int llm_grammar__alloc(llm_grammar **out, const llm_gvocab *v, const llm_grammar_opts *opts);
int llm_grammar__finish(llm_grammar *g, char *err, size_t errlen);
uint32_t llm_grammar__any_node(llm_grammar *g, bool object_only);
int llm_grammar__compile(llm_grammar *g, const json_t *schema, uint32_t *root, char *err,
                         size_t errlen);
uint32_t llm_grammar__free_text_node(llm_grammar *g, bool no_brace);
uint32_t llm_grammar__alt_node(llm_grammar *g, const uint32_t *alts, uint32_t n);

/* Compile schema into a new grammar; or_text adds the free-text answer of
 * tool_choice=auto as an alternative to the schema. */
int llm_grammar__build(const llm_gvocab *v, const json_t *schema, bool or_text,
                       const llm_grammar_opts *opts, llm_grammar **out, char *err, size_t errlen);

/* JSON-encode s into out (no quotes); returns the encoded length. */
size_t llm_grammar__json_escape(const char *s, size_t n, char *out);

#endif /* LLM_GRAMMAR_INT_H */
