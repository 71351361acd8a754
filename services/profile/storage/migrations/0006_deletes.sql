-- Deleting profiles (issue 12): version-checked deletes that leave a
-- tombstone, erase the personal data at once, and reach every client through
-- the change stream.
--
-- A delete keeps the profile's row as its tombstone: id, version (one more
-- than the last) and the time of the delete, and nothing else. Keeping the
-- row, rather than deleting it, is what lets the tombstone travel like any
-- other change (the WAL sequencer stamps the UPDATE; listings and watches
-- read it through profile_positions), and what lets a later create of the
-- same id continue the version numbers, so no client can mistake the new
-- profile for the old one or the old one for the new.
--
-- The CHECK below makes erasure a property of the table, not of one code
-- path: no tombstone can hold a name, an e-mail or a picture, whoever writes
-- it.
ALTER TABLE profiles ADD COLUMN deleted_at timestamptz;
ALTER TABLE profiles ALTER COLUMN name DROP NOT NULL, ALTER COLUMN email DROP NOT NULL;
ALTER TABLE profiles ADD CONSTRAINT profiles_tombstone_erased CHECK (
  CASE WHEN deleted_at IS NULL THEN name IS NOT NULL AND email IS NOT NULL
       ELSE name IS NULL AND email IS NULL AND octet_length(avatar) = 0 END);

-- The tombstone purge (RetentionPruner) finds old tombstones by this index.
CREATE INDEX profiles_tombstones ON profiles (deleted_at) WHERE deleted_at IS NOT NULL;

-- Idempotency records of a deleted profile keep no personal data: the delete
-- clears their recorded results and their fingerprint (a hash of the request,
-- name and e-mail included). Such an "erased" record still names its
-- mutation, so a retry of it is recognised and never applied again (a create
-- retried after the delete would otherwise bring the profile back).
-- result_deleted marks the record of a delete (its result is a tombstone).
ALTER TABLE applied_mutations ALTER COLUMN fingerprint DROP NOT NULL;
ALTER TABLE applied_mutations ADD COLUMN result_deleted boolean NOT NULL DEFAULT false;
CREATE INDEX applied_mutations_profile ON applied_mutations (profile_id);

-- How far tombstones have been dropped from the change stream: the largest
-- position whose tombstone the purge removed. A cursor below it may have
-- missed a delete, so it is refused (CURSOR_EXPIRED) and its client lists
-- again. One row at most; positions of another epoch are compared with
-- nothing (a cursor of an older epoch is refused anyway).
CREATE TABLE change_stream_horizon (
  singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch bigint NOT NULL,
  commit_lsn pg_lsn NOT NULL,
  idx int NOT NULL
);

DROP FUNCTION profiles_apply_write(uuid, bigint, text, text, bytea, uuid, text);

-- As in 0003, plus deletes (p_delete) and tombstones. New outcomes:
--   'deleted'  the write (or delete) was based on a profile that has been
--              deleted; the columns hold the tombstone
--   'erased'   p_mutation_id was applied before, but its profile has since
--              been deleted and the record's result erased; the columns
--              hold the tombstone if the profile still is one, else only
--              the id
-- and r_deleted says whether the row returned is a tombstone. A create
-- (p_expected_version = 0) of a deleted id makes a new profile at the
-- tombstone's version + 1. p_delete has a default, so a replica still running
-- the previous build keeps working during a rolling upgrade.
CREATE FUNCTION profiles_apply_write(
    p_id uuid, p_expected_version bigint, p_name text, p_email text, p_avatar bytea,
    p_mutation_id uuid, p_caller text DEFAULT '', p_delete boolean DEFAULT false)
RETURNS TABLE (outcome text, r_id uuid, r_name text, r_email text, r_avatar bytea,
               r_avatar_sha256 text, r_version bigint, r_updated_at timestamptz,
               r_deleted boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_fingerprint bytea;
  v_mutation applied_mutations%ROWTYPE;
  v_row profiles%ROWTYPE;
  v_written boolean;
BEGIN
  IF p_mutation_id IS NOT NULL THEN
    -- A delete's fingerprint is shorter than any write's, so the two never
    -- match.
    v_fingerprint := CASE WHEN p_delete
                          THEN sha256('\x02'::bytea || uuid_send(p_id) || int8send(p_expected_version))
                          ELSE profiles_write_fingerprint(p_id, p_expected_version, p_name, p_email,
                                                          p_avatar) END;
  END IF;

  FOR pass IN 1..2 LOOP
    -- Pass 2 runs only after the write found a conflict: a concurrent first
    -- application of the same mutation may have committed meanwhile (we
    -- waited for its row lock), and this statement's new snapshot sees it.
    IF p_mutation_id IS NOT NULL THEN
      SELECT * INTO v_mutation FROM applied_mutations m
       WHERE m.caller = p_caller AND m.mutation_id = p_mutation_id;
      IF FOUND THEN
        IF v_mutation.fingerprint IS NULL THEN
          SELECT * INTO v_row FROM profiles p WHERE p.id = v_mutation.profile_id;
          IF FOUND AND v_row.deleted_at IS NOT NULL THEN
            RETURN QUERY SELECT 'erased'::text, v_row.id, NULL::text, NULL::text, ''::bytea, '',
                                v_row.version, v_row.updated_at, true;
          ELSE
            RETURN QUERY SELECT 'erased'::text, v_mutation.profile_id, NULL::text, NULL::text,
                                NULL::bytea, NULL::text, NULL::bigint, NULL::timestamptz, false;
          END IF;
          RETURN;
        END IF;
        IF v_mutation.fingerprint <> v_fingerprint THEN
          RETURN QUERY SELECT 'mutation_reused'::text, p_id, NULL::text, NULL::text, NULL::bytea,
                              NULL::text, NULL::bigint, NULL::timestamptz, false;
          RETURN;
        END IF;
        RETURN QUERY
          SELECT 'replayed'::text, v_mutation.profile_id, v_mutation.result_name,
                 v_mutation.result_email,
                 coalesce((SELECT p.avatar FROM profiles p
                           WHERE p.id = v_mutation.profile_id
                             AND p.avatar_sha256 = v_mutation.result_avatar_sha256),
                          ''::bytea),
                 coalesce(v_mutation.result_avatar_sha256, ''), v_mutation.result_version,
                 v_mutation.result_updated_at, v_mutation.result_deleted;
        RETURN;
      END IF;
    END IF;
    EXIT WHEN pass = 2;

    IF p_delete THEN
      UPDATE profiles AS p
         SET name = NULL, email = NULL, avatar = ''::bytea,
             version = p.version + 1,
             updated_at = now(),
             deleted_at = now(),
             change_txid = pg_current_xact_id(),
             change_seq = nextval('profile_change_seq')
       WHERE p.id = p_id AND p.version = p_expected_version AND p.deleted_at IS NULL
      RETURNING p.* INTO v_row;
      v_written := FOUND;
      IF v_written THEN
        -- Erasure of the profile's earlier idempotency records, in the
        -- delete's own transaction: once the delete is acknowledged, no
        -- personal data of the profile is left in them.
        UPDATE applied_mutations m
           SET fingerprint = NULL, result_name = NULL, result_email = NULL,
               result_avatar_sha256 = NULL
         WHERE m.profile_id = p_id AND m.fingerprint IS NOT NULL AND NOT m.result_deleted;
      END IF;
    ELSIF p_expected_version = 0 THEN
      INSERT INTO profiles AS p (id, name, email, avatar, version)
        VALUES (p_id, p_name, p_email, coalesce(p_avatar, ''::bytea), 1)
        ON CONFLICT (id) DO UPDATE
          SET name = excluded.name, email = excluded.email, avatar = excluded.avatar,
              version = p.version + 1,
              updated_at = now(),
              deleted_at = NULL,
              change_txid = pg_current_xact_id(),
              change_seq = nextval('profile_change_seq')
          WHERE p.deleted_at IS NOT NULL
        RETURNING p.* INTO v_row;
      v_written := FOUND;
    ELSE
      UPDATE profiles AS p
         SET name = coalesce(p_name, p.name),
             email = coalesce(p_email, p.email),
             avatar = coalesce(p_avatar, p.avatar),
             version = p.version + 1,
             updated_at = now(),
             change_txid = pg_current_xact_id(),
             change_seq = nextval('profile_change_seq')
       WHERE p.id = p_id AND p.version = p_expected_version AND p.deleted_at IS NULL
      RETURNING p.* INTO v_row;
      v_written := FOUND;
    END IF;

    IF v_written THEN
      IF p_mutation_id IS NOT NULL THEN
        INSERT INTO applied_mutations (caller, mutation_id, profile_id, fingerprint,
                                       result_version, result_name, result_email,
                                       result_avatar_sha256, result_updated_at, result_deleted)
          VALUES (p_caller, p_mutation_id, v_row.id, v_fingerprint, v_row.version, v_row.name,
                  v_row.email, v_row.avatar_sha256, v_row.updated_at, p_delete);
      END IF;
      RETURN QUERY SELECT 'applied'::text, v_row.id, v_row.name, v_row.email, v_row.avatar,
                          v_row.avatar_sha256, v_row.version, v_row.updated_at,
                          v_row.deleted_at IS NOT NULL;
      RETURN;
    END IF;
  END LOOP;

  SELECT * INTO v_row FROM profiles p WHERE p.id = p_id;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, p_id, NULL::text, NULL::text, NULL::bytea, NULL::text,
                        NULL::bigint, NULL::timestamptz, false;
    RETURN;
  END IF;
  RETURN QUERY SELECT CASE WHEN v_row.deleted_at IS NULL THEN 'conflict' ELSE 'deleted' END,
                      v_row.id, v_row.name, v_row.email, v_row.avatar, v_row.avatar_sha256,
                      v_row.version, v_row.updated_at, v_row.deleted_at IS NOT NULL;
END;
$$;
