/*
 * sql/version.h: the version of the cs_* schema this build installs. An
 * older agent refuses a database whose schema is newer (docs/MERGE.md).
 */
#ifndef CS_SQL_VERSION_H
#define CS_SQL_VERSION_H

#define CS_SCHEMA_VERSION 1

const char *cs_sql_library_version(void);

#endif
