-- Drops the change positions of 0001 (change_txid, change_seq), replaced by
-- profile_positions in 0005.
--
-- Those positions were assigned before commit (pg_current_xact_id(),
-- nextval('profile_change_seq')) and are no longer read by anything: the WAL
-- sequencer numbers changes in commit order in profile_positions. Yet every
-- write still set them, drew from the sequence and maintained
-- profiles_change_position, a cost paid for nothing.
--
-- profiles_apply_write is redefined first without them (the signature of
-- 0006, so a replica still running the previous build keeps calling it
-- unchanged); then the index, the columns and the sequence go. The NOTIFY
-- trigger of 0001 (profiles_notify_change) never set them and stays: the WAL
-- sequencer LISTENs on profile_changes as its wake-up.
--
-- Dropping columns only marks them dropped in the catalog (no table rewrite);
-- the ACCESS EXCLUSIVE lock on profiles is held for the rest of this
-- migration's transaction, which is short.

-- As in 0006, except that no write sets change_txid and change_seq any more.
CREATE OR REPLACE FUNCTION profiles_apply_write(
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
             deleted_at = now()
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
              deleted_at = NULL
          WHERE p.deleted_at IS NOT NULL
        RETURNING p.* INTO v_row;
      v_written := FOUND;
    ELSE
      UPDATE profiles AS p
         SET name = coalesce(p_name, p.name),
             email = coalesce(p_email, p.email),
             avatar = coalesce(p_avatar, p.avatar),
             version = p.version + 1,
             updated_at = now()
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

DROP INDEX profiles_change_position;
ALTER TABLE profiles DROP COLUMN change_txid, DROP COLUMN change_seq;
DROP SEQUENCE profile_change_seq;
