/*
 * schema.c - the LSFS database schema and its migrations.
 *
 * The schema version is PRAGMA user_version.  migrations[i] takes a database
 * from version i to i+1; each runs in its own transaction together with the
 * version bump, so a crash mid-migration leaves the previous version intact.
 * A database newer than this build is refused rather than guessed at.
 * Rows are append-only: never edit a shipped migration, add a new one.
 *
 * Threads: runs once, from lsfs_store_open(), on the opening thread.
 */
#include <stdio.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

/* v1: the namespace, versions, blobs, rights. */
static const char mig_v1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    /* content-addressed blobs: sha-256 of the raw bytes; codec 0 raw, 1 zstd */
    "CREATE TABLE blobs("
    "  id INTEGER PRIMARY KEY,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  size INTEGER NOT NULL,"
    "  codec INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    /* one row per folder, file or link; deleted rows stay (the trash) */
    "CREATE TABLE nodes("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  path TEXT NOT NULL,"
    "  dir TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  kind INTEGER NOT NULL CHECK(kind IN (1,2,3)),"
    "  owner TEXT NOT NULL,"
    "  mime TEXT NOT NULL DEFAULT '',"
    "  ext TEXT NOT NULL DEFAULT '',"
    "  head INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  blob INTEGER REFERENCES blobs(id),"
    "  target INTEGER,"
    "  ctime INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  deleted INTEGER,"
    "  trash INTEGER,"
    "  mount TEXT,"
    "  hstat TEXT,"
    "  sources TEXT);"
    "CREATE UNIQUE INDEX nodes_live_path ON nodes(path) WHERE deleted IS NULL;"
    "CREATE INDEX nodes_live_dir ON nodes(dir, name) WHERE deleted IS NULL;"
    "CREATE INDEX nodes_owner ON nodes(owner, kind);"
    "CREATE INDEX nodes_trash ON nodes(path, deleted) WHERE deleted IS NOT NULL;"
    "CREATE INDEX nodes_target ON nodes(target) WHERE target IS NOT NULL;"
    "CREATE TABLE versions("
    "  node INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
    "  ver INTEGER NOT NULL,"
    "  blob INTEGER NOT NULL REFERENCES blobs(id),"
    "  size INTEGER NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  author TEXT NOT NULL,"
    "  op TEXT NOT NULL,"
    "  PRIMARY KEY(node, ver)) WITHOUT ROWID;"
    "CREATE INDEX versions_blob ON versions(blob);"
    /* perm: 1 read, 3 read+write; grantee agent:x, uid:n, group:g or * */
    "CREATE TABLE shares("
    "  node INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
    "  grantee TEXT NOT NULL,"
    "  perm INTEGER NOT NULL,"
    "  granted_by TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  PRIMARY KEY(node, grantee)) WITHOUT ROWID;"
    "CREATE INDEX shares_grantee ON shares(grantee);"
    "CREATE TABLE groups("
    "  name TEXT PRIMARY KEY,"
    "  owner TEXT NOT NULL,"
    "  ctime INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE group_members("
    "  grp TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,"
    "  member TEXT NOT NULL,"
    "  PRIMARY KEY(grp, member)) WITHOUT ROWID;"
    "CREATE INDEX group_members_member ON group_members(member);"
    "CREATE TABLE mounts("
    "  name TEXT PRIMARY KEY,"
    "  host_path TEXT NOT NULL,"
    "  mode TEXT NOT NULL CHECK(mode IN ('ro','rw')),"
    "  owner TEXT NOT NULL,"
    "  ctime INTEGER NOT NULL) WITHOUT ROWID;"
    /* the fixed top of the namespace */
    "INSERT INTO nodes(path,dir,name,kind,owner,ctime,mtime) VALUES"
    "  ('/','','',1,'system',0,0),"
    "  ('/home','/','home',1,'system',0,0),"
    "  ('/shared','/','shared',1,'system',0,0),"
    "  ('/mnt','/','mnt',1,'system',0,0);"
    "INSERT INTO shares(node,grantee,perm,granted_by,time)"
    "  SELECT id,'*',3,'system',0 FROM nodes WHERE path='/shared';";

/* v2: chunks, the FTS5 keyword index, vectors and summaries. */
static const char mig_v2[] =
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  node INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
    "  ver INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  start INTEGER NOT NULL,"
    "  len INTEGER NOT NULL,"
    "  heading TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  thash BLOB NOT NULL);"
    "CREATE INDEX chunks_node ON chunks(node, seq);"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, content='chunks',"
    "  content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN"
    "  INSERT INTO chunks_fts(rowid, title, body) VALUES (new.id, new.title, new.body);"
    "END;"
    "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
    "  INSERT INTO chunks_fts(chunks_fts, rowid, title, body)"
    "    VALUES ('delete', old.id, old.title, old.body);"
    "END;"
    "CREATE TRIGGER chunks_au AFTER UPDATE OF title, body ON chunks BEGIN"
    "  INSERT INTO chunks_fts(chunks_fts, rowid, title, body)"
    "    VALUES ('delete', old.id, old.title, old.body);"
    "  INSERT INTO chunks_fts(rowid, title, body) VALUES (new.id, new.title, new.body);"
    "END;"
    "CREATE TABLE vectors("
    "  chunk INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
    "  model TEXT NOT NULL,"
    "  vec BLOB NOT NULL);"
    "CREATE TABLE summaries("
    "  node INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
    "  ver INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  PRIMARY KEY(node, ver)) WITHOUT ROWID;";

/* v3: agent memory notes with their own keyword index and vectors. */
static const char mig_v3[] =
    "CREATE TABLE mem_notes("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  owner TEXT NOT NULL,"
    "  content TEXT NOT NULL,"
    "  keywords TEXT NOT NULL DEFAULT '[]',"
    "  tags TEXT NOT NULL DEFAULT '[]',"
    "  links TEXT NOT NULL DEFAULT '[]',"
    "  ctime INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  model TEXT,"
    "  vec BLOB);"
    "CREATE INDEX mem_notes_owner ON mem_notes(owner);"
    "CREATE TABLE mem_tags("
    "  note INTEGER NOT NULL REFERENCES mem_notes(id) ON DELETE CASCADE,"
    "  tag TEXT NOT NULL,"
    "  PRIMARY KEY(note, tag)) WITHOUT ROWID;"
    "CREATE INDEX mem_tags_tag ON mem_tags(tag);"
    "CREATE TABLE mem_shares("
    "  note INTEGER NOT NULL REFERENCES mem_notes(id) ON DELETE CASCADE,"
    "  grantee TEXT NOT NULL,"
    "  PRIMARY KEY(note, grantee)) WITHOUT ROWID;"
    "CREATE INDEX mem_shares_grantee ON mem_shares(grantee);"
    "CREATE VIRTUAL TABLE mem_fts USING fts5(content, keywords, tags,"
    "  content='mem_notes', content_rowid='id',"
    "  tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE TRIGGER mem_ai AFTER INSERT ON mem_notes BEGIN"
    "  INSERT INTO mem_fts(rowid, content, keywords, tags)"
    "    VALUES (new.id, new.content, new.keywords, new.tags);"
    "END;"
    "CREATE TRIGGER mem_ad AFTER DELETE ON mem_notes BEGIN"
    "  INSERT INTO mem_fts(mem_fts, rowid, content, keywords, tags)"
    "    VALUES ('delete', old.id, old.content, old.keywords, old.tags);"
    "END;"
    "CREATE TRIGGER mem_au AFTER UPDATE OF content, keywords, tags ON mem_notes BEGIN"
    "  INSERT INTO mem_fts(mem_fts, rowid, content, keywords, tags)"
    "    VALUES ('delete', old.id, old.content, old.keywords, old.tags);"
    "  INSERT INTO mem_fts(rowid, content, keywords, tags)"
    "    VALUES (new.id, new.content, new.keywords, new.tags);"
    "END;";

static const char *const migrations[] = {mig_v1, mig_v2, mig_v3};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(sizeof migrations / sizeof migrations[0] == LSFS_SCHEMA_VERSION,
               "LSFS_SCHEMA_VERSION must equal the number of migrations");

const char *lsfs__migration_sql(int from_version)
{
    if (from_version < 0 || from_version >= N_MIGRATIONS)
        return NULL;
    return migrations[from_version];
}

static int user_version(lsfs_db *db, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return lsfs__sqlerr(db, rc, "user_version");
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    return *v < 0 ? lsfs__err(db, AIOS_ECORRUPT, NULL, "cannot read the schema version") : 0;
}

/* Bring the database up to LSFS_SCHEMA_VERSION, one transaction per step. */
int lsfs__migrate(lsfs_db *db)
{
    char bump[64];
    int v = 0, rc;

    rc = user_version(db, &v);
    if (rc < 0)
        return rc;
    if (v > N_MIGRATIONS)
        return lsfs__err(db, AIOS_ENOTSUP, NULL,
                         "database schema version %d is newer than this build (%d)", v,
                         N_MIGRATIONS);
    for (; v < N_MIGRATIONS; v++) {
        int now;
        rc = lsfs__exec(db, "BEGIN IMMEDIATE");
        if (rc < 0)
            return rc;
        db->in_txn = true;
        /* another process may have migrated while we waited for the lock */
        if ((rc = user_version(db, &now)) < 0 || now > v) {
            rc = lsfs__end(db, rc);
            if (rc < 0)
                return rc;
            v = now - 1;
            continue;
        }
        rc = lsfs__exec(db, migrations[v]);
        if (rc >= 0) {
            snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
            rc = lsfs__exec(db, bump);
        }
        rc = lsfs__end(db, rc);
        if (rc < 0)
            return rc;
        aios_log(AIOS_LOG_DEBUG, "lsfs", "schema migrated to version %d", v + 1);
    }
    return 0;
}
