-- Idempotency records are kept for a retention window and then pruned
-- (MutationPruner, mutation_pruner.h; profile_server --idempotency-retention).
-- The pruner finds records by age; without this index every pass would read
-- the whole table. A plain CREATE INDEX, because migrations run inside a
-- transaction, where CONCURRENTLY is not allowed: it holds writes to
-- applied_mutations while it builds (about a second per million records).
CREATE INDEX applied_mutations_applied_at ON applied_mutations (applied_at);
