-- Change positions in commit order (issue 11), written by the WAL sequencer
-- (services/profile/storage/wal_sequencer.h).
--
-- The positions of 0001 (change_txid, change_seq) are assigned before commit,
-- so readers may only pass those below the cluster-wide snapshot xmin, and any
-- transaction holding an xid anywhere in the cluster, even in another
-- database, holds back every client's changes. Logical decoding hands out
-- committed transactions in commit order, so a position taken from it, the
-- LSN of the transaction's commit record, never lands behind one already
-- handed out, and needs no watermark.
--
-- A separate table, not columns of profiles: the sequencer writes it for
-- every decoded change, and a write to profiles would itself be decoded as a
-- profile change (a feedback loop that never settles). The slot decodes only
-- public.profiles, so the sequencer's own writes here never come back to it.
--
-- epoch: positions compare only within one replication slot's stream. When
-- the slot has to be replaced (it was lost: WAL removed before it was read,
-- or dropped), changes between the two slots were never decoded, so every
-- profile is stamped again at a new epoch and a cursor of an older epoch
-- means "list again from the start", never a silent gap.
-- idx: the order of the change within its transaction (one transaction may
-- write several profiles; they share commit_lsn).
CREATE TABLE profile_positions (
  profile_id uuid PRIMARY KEY,
  epoch bigint NOT NULL,
  commit_lsn pg_lsn NOT NULL,
  idx int NOT NULL
);

-- Delta sync reads "positions after (epoch, commit_lsn, idx)" in this order.
CREATE INDEX profile_positions_order ON profile_positions (epoch, commit_lsn, idx);

-- The sequencer's current epoch and the slot whose stream it numbers. One row
-- (the CHECK makes a second impossible); written in the same transaction as
-- the stamps of a (re)created slot, so an epoch is never recorded without
-- them.
CREATE TABLE change_sequencer_state (
  singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch bigint NOT NULL,
  slot_name text NOT NULL
);
