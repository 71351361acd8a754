-- Idempotency records belong to their caller (issue 9). A mutation id is
-- chosen by the client, so another user who sends the same id (by accident,
-- or having seen it) must never be answered with the first caller's result,
-- nor be refused because of it: the record is keyed by (caller, mutation id),
-- where the caller is the verified token's subject ('' with authentication
-- off, which is what every record written before this migration gets).
--
-- profiles_apply_write gains p_caller with a default, so a replica still
-- running the previous build (six arguments) keeps working during a rolling
-- upgrade, with its records in the '' scope.

ALTER TABLE applied_mutations ADD COLUMN caller text NOT NULL DEFAULT '';
ALTER TABLE applied_mutations DROP CONSTRAINT applied_mutations_pkey;
ALTER TABLE applied_mutations ADD PRIMARY KEY (caller, mutation_id);

DROP FUNCTION profiles_apply_write(uuid, bigint, text, text, bytea, uuid);

-- As in 0001, except that the record is looked up and written with p_caller.
CREATE FUNCTION profiles_apply_write(
    p_id uuid, p_expected_version bigint, p_name text, p_email text, p_avatar bytea,
    p_mutation_id uuid, p_caller text DEFAULT '')
RETURNS TABLE (outcome text, r_id uuid, r_name text, r_email text, r_avatar bytea,
               r_avatar_sha256 text, r_version bigint, r_updated_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_fingerprint bytea;
  v_mutation applied_mutations%ROWTYPE;
  v_row profiles%ROWTYPE;
BEGIN
  IF p_mutation_id IS NOT NULL THEN
    v_fingerprint := profiles_write_fingerprint(p_id, p_expected_version, p_name, p_email, p_avatar);
  END IF;

  FOR pass IN 1..2 LOOP
    -- Pass 2 runs only after the write found a conflict: a concurrent first
    -- application of the same mutation may have committed meanwhile (we
    -- waited for its row lock), and this statement's new snapshot sees it.
    IF p_mutation_id IS NOT NULL THEN
      SELECT * INTO v_mutation FROM applied_mutations m
       WHERE m.caller = p_caller AND m.mutation_id = p_mutation_id;
      IF FOUND THEN
        IF v_mutation.fingerprint <> v_fingerprint THEN
          RETURN QUERY SELECT 'mutation_reused'::text, p_id, NULL::text, NULL::text, NULL::bytea,
                              NULL::text, NULL::bigint, NULL::timestamptz;
          RETURN;
        END IF;
        RETURN QUERY
          SELECT 'replayed'::text, v_mutation.profile_id, v_mutation.result_name,
                 v_mutation.result_email,
                 coalesce((SELECT p.avatar FROM profiles p
                           WHERE p.id = v_mutation.profile_id
                             AND p.avatar_sha256 = v_mutation.result_avatar_sha256),
                          ''::bytea),
                 v_mutation.result_avatar_sha256, v_mutation.result_version,
                 v_mutation.result_updated_at;
        RETURN;
      END IF;
    END IF;
    EXIT WHEN pass = 2;

    IF p_expected_version = 0 THEN
      INSERT INTO profiles AS p (id, name, email, avatar, version)
        VALUES (p_id, p_name, p_email, coalesce(p_avatar, ''::bytea), 1)
        ON CONFLICT (id) DO NOTHING
        RETURNING p.* INTO v_row;
    ELSE
      UPDATE profiles AS p
         SET name = coalesce(p_name, p.name),
             email = coalesce(p_email, p.email),
             avatar = coalesce(p_avatar, p.avatar),
             version = p.version + 1,
             updated_at = now(),
             change_txid = pg_current_xact_id(),
             change_seq = nextval('profile_change_seq')
       WHERE p.id = p_id AND p.version = p_expected_version
      RETURNING p.* INTO v_row;
    END IF;

    IF FOUND THEN
      IF p_mutation_id IS NOT NULL THEN
        INSERT INTO applied_mutations (caller, mutation_id, profile_id, fingerprint,
                                       result_version, result_name, result_email,
                                       result_avatar_sha256, result_updated_at)
          VALUES (p_caller, p_mutation_id, v_row.id, v_fingerprint, v_row.version, v_row.name,
                  v_row.email, v_row.avatar_sha256, v_row.updated_at);
      END IF;
      RETURN QUERY SELECT 'applied'::text, v_row.id, v_row.name, v_row.email, v_row.avatar,
                          v_row.avatar_sha256, v_row.version, v_row.updated_at;
      RETURN;
    END IF;
  END LOOP;

  SELECT * INTO v_row FROM profiles p WHERE p.id = p_id;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, p_id, NULL::text, NULL::text, NULL::bytea, NULL::text,
                        NULL::bigint, NULL::timestamptz;
    RETURN;
  END IF;
  RETURN QUERY SELECT 'conflict'::text, v_row.id, v_row.name, v_row.email, v_row.avatar,
                      v_row.avatar_sha256, v_row.version, v_row.updated_at;
END;
$$;
