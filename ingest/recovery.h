/*
 * Recovery of one segment left in state writing, shared by start-up
 * recovery and by the workers, which use it for a segment they could not
 * finish because the storage failed.  Internal to ingest/.
 */
#ifndef VIGIL_INGEST_RECOVERY_H
#define VIGIL_INGEST_RECOVERY_H

#include "ingest/ingest.h"

/*
 * Keeps the whole fragments of seg's file (the torn tail is cut off, the
 * file and its folder fsynced) and marks the row recovered with its real
 * end, size and hash; a row whose file is missing or holds no whole
 * fragment is removed with its file.  A file that cannot be removed keeps
 * its row.  Counts what it did in *r.  Returns 0 when the row is settled
 * (recovered or removed), or a negative errno with the row left writing.
 */
int recovery_settle_segment(const struct config *cfg, struct catalog *cat,
			    const struct catalog_segment *seg, struct ingest_recovery *r);

#endif
