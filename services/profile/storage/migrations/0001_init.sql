-- Profiles, the idempotency records of applied writes, the change
-- notification, and the single-statement write used by PgProfileRepository.
-- The limits repeat those of services/profile/domain/validation.h so that no
-- writer, whatever its path, can store a profile the API would reject.

CREATE SEQUENCE profile_change_seq;

CREATE TABLE profiles (
  id uuid PRIMARY KEY,
  name text NOT NULL
    CONSTRAINT profiles_name_valid CHECK (
      char_length(name) BETWEEN 1 AND 100
      AND name = btrim(name)
      AND name !~ '[[:cntrl:]]'),
  email text NOT NULL
    CONSTRAINT profiles_email_valid CHECK (
      octet_length(email) <= 254
      AND email LIKE '%_@_%._%'
      AND email !~ '[[:space:][:cntrl:]]'),
  avatar bytea NOT NULL DEFAULT ''
    CONSTRAINT profiles_avatar_size CHECK (octet_length(avatar) <= 262144),
  avatar_sha256 text GENERATED ALWAYS AS (
    CASE WHEN octet_length(avatar) = 0 THEN '' ELSE encode(sha256(avatar), 'hex') END) STORED,
  version bigint NOT NULL CONSTRAINT profiles_version_positive CHECK (version >= 1),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Position in the change stream (see change_cursor.h): the transaction
  -- that last wrote the row, and the order of that write within it.
  change_txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  change_seq bigint NOT NULL DEFAULT nextval('profile_change_seq')
);

CREATE INDEX profiles_change_position ON profiles (change_txid, change_seq);

-- One row per write applied with a mutation id, written in the same
-- statement as the write itself, so a replay finds it if and only if the
-- write committed.
CREATE TABLE applied_mutations (
  mutation_id uuid PRIMARY KEY,
  profile_id uuid NOT NULL,
  fingerprint bytea NOT NULL,
  result_version bigint,
  result_name text,
  result_email text,
  result_avatar_sha256 text,
  result_updated_at timestamptz,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- NOTIFY is delivered at commit, so listeners wake when the change is visible.
CREATE FUNCTION profiles_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('profile_changes', '');
  RETURN NULL;
END;
$$;

CREATE TRIGGER profiles_notify_change
  AFTER INSERT OR UPDATE ON profiles
  FOR EACH STATEMENT EXECUTE FUNCTION profiles_notify_change();

-- Identifies a write request: the same mutation id with a different request
-- must be refused. Each field is length-prefixed behind a presence marker,
-- so "not written" (NULL) and every value differ.
CREATE FUNCTION profiles_write_fingerprint(
    p_id uuid, p_expected_version bigint, p_name text, p_email text, p_avatar bytea)
RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
  SELECT sha256(
    uuid_send(p_id) || int8send(p_expected_version)
    || CASE WHEN p_name IS NULL THEN '\x00'::bytea
            ELSE '\x01'::bytea || int4send(octet_length(p_name)) || convert_to(p_name, 'UTF8') END
    || CASE WHEN p_email IS NULL THEN '\x00'::bytea
            ELSE '\x01'::bytea || int4send(octet_length(p_email)) || convert_to(p_email, 'UTF8') END
    || CASE WHEN p_avatar IS NULL THEN '\x00'::bytea
            ELSE '\x01'::bytea || int4send(octet_length(p_avatar)) || p_avatar END)
$$;

-- Applies one write: the idempotency check, the version check, the write and
-- the idempotency record, in one statement. `outcome` is one of
--   'applied'          the write was applied; the columns hold the new row
--   'replayed'         p_mutation_id was applied before with the same request;
--                      the columns hold that first result (the avatar only if
--                      the stored one is still the same, else empty)
--   'mutation_reused'  p_mutation_id was applied before with another request
--   'conflict'         stale p_expected_version, or create of an existing id;
--                      the columns hold the current row
--   'not_found'        update of an id that does not exist
-- p_expected_version = 0 creates the profile (p_name and p_email required);
-- NULL fields are left unchanged. A concurrent first application of the same
-- mutation id may make this raise unique_violation: calling again replays.
CREATE FUNCTION profiles_apply_write(
    p_id uuid, p_expected_version bigint, p_name text, p_email text, p_avatar bytea,
    p_mutation_id uuid)
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
      SELECT * INTO v_mutation FROM applied_mutations m WHERE m.mutation_id = p_mutation_id;
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
        INSERT INTO applied_mutations (mutation_id, profile_id, fingerprint, result_version,
                                       result_name, result_email, result_avatar_sha256,
                                       result_updated_at)
          VALUES (p_mutation_id, v_row.id, v_fingerprint, v_row.version, v_row.name, v_row.email,
                  v_row.avatar_sha256, v_row.updated_at);
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
