-- One text rule for the service and the table (finding 6 of issue 6).
--
-- 0001 described names and e-mail addresses with the locale's character
-- classes ([[:cntrl:]], [[:space:]]) and btrim(), which trims ASCII spaces
-- only, while the service used its own lists: the two disagreed on U+2028,
-- U+2029, U+0085, U+00A0, U+200B, bidirectional controls and more, and a value
-- one accepted and the other refused became an internal error. These
-- constraints state the rule of services/profile/domain/validation.h with
-- explicit code points, so they no longer depend on the database's locale:
--   forbidden anywhere   controls (Cc), U+2028/U+2029, format characters (Cf)
--                        except U+200C/U+200D, noncharacters
--   whitespace           Unicode White_Space: never first or last in a name,
--                        nowhere in an e-mail address
-- tests/text_rules_test.cc walks every class through both and fails if the
-- lists here and in validation.cc differ.
--
-- Rows written under 0001 may break the new rule (a name holding U+200B, a
-- trailing no-break space): they are cleaned first, the forbidden characters
-- removed and whitespace trimmed, as the service would have done, and get a
-- new version and change position so every device syncs the cleaned value.

SET LOCAL standard_conforming_strings = on;

CREATE FUNCTION pg_temp.forbidden_characters() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT '[\u0001-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2' ||
         '\u180e\u200b\u200e-\u200f\u2028-\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f' ||
         '\ufdd0-\ufdef\ufeff\ufff9-\ufffb\ufffe-\uffff\U000110bd\U000110cd' ||
         '\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U0001fffe-\U0001ffff' ||
         '\U0002fffe-\U0002ffff\U0003fffe-\U0003ffff\U0004fffe-\U0004ffff\U0005fffe-\U0005ffff' ||
         '\U0006fffe-\U0006ffff\U0007fffe-\U0007ffff\U0008fffe-\U0008ffff\U0009fffe-\U0009ffff' ||
         '\U000afffe-\U000affff\U000bfffe-\U000bffff\U000cfffe-\U000cffff\U000dfffe-\U000dffff' ||
         '\U000e0001\U000e0020-\U000e007f\U000efffe-\U000effff\U000ffffe-\U000fffff' ||
         '\U0010fffe-\U0010ffff]'::text
$$;

CREATE FUNCTION pg_temp.whitespace() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT '[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000]'::text
$$;

CREATE FUNCTION pg_temp.clean(value text, keep_inner_space boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN keep_inner_space
    THEN regexp_replace(regexp_replace(value, pg_temp.forbidden_characters(), '', 'g'),
                        '^' || pg_temp.whitespace() || '+|' || pg_temp.whitespace() || '+$', '',
                        'g')
    ELSE regexp_replace(value, pg_temp.forbidden_characters() || '|' || pg_temp.whitespace(), '',
                        'g')
  END
$$;

ALTER TABLE profiles DROP CONSTRAINT profiles_name_valid;
ALTER TABLE profiles DROP CONSTRAINT profiles_email_valid;

WITH cleaned AS (
  SELECT id, coalesce(nullif(pg_temp.clean(name, true), ''), 'Unnamed') AS name,
         pg_temp.clean(email, false) AS email
    FROM profiles
)
UPDATE profiles AS p
   SET name = left(c.name, 100),
       email = c.email,
       version = p.version + 1,
       updated_at = now(),
       change_txid = pg_current_xact_id(),
       change_seq = nextval('profile_change_seq')
  FROM cleaned AS c
 WHERE p.id = c.id AND (p.name IS DISTINCT FROM left(c.name, 100) OR p.email <> c.email);

ALTER TABLE profiles ADD CONSTRAINT profiles_name_valid CHECK (
  char_length(name) BETWEEN 1 AND 100
  -- forbidden characters (validation.h)
  AND name !~ ('[\u0001-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2' ||
               '\u180e\u200b\u200e-\u200f\u2028-\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f' ||
               '\ufdd0-\ufdef\ufeff\ufff9-\ufffb\ufffe-\uffff\U000110bd\U000110cd' ||
               '\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U0001fffe-\U0001ffff' ||
               '\U0002fffe-\U0002ffff\U0003fffe-\U0003ffff\U0004fffe-\U0004ffff\U0005fffe-\U0005ffff' ||
               '\U0006fffe-\U0006ffff\U0007fffe-\U0007ffff\U0008fffe-\U0008ffff\U0009fffe-\U0009ffff' ||
               '\U000afffe-\U000affff\U000bfffe-\U000bffff\U000cfffe-\U000cffff\U000dfffe-\U000dffff' ||
               '\U000e0001\U000e0020-\U000e007f\U000efffe-\U000effff\U000ffffe-\U000fffff' ||
               '\U0010fffe-\U0010ffff]')
  -- no whitespace first or last
  AND name !~ ('^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000]' ||
               '|[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000]' ||
               '$'));

ALTER TABLE profiles ADD CONSTRAINT profiles_email_valid CHECK (
  octet_length(email) <= 254
  AND email LIKE '%_@_%._%'
  -- forbidden characters and whitespace (validation.h)
  AND email !~ ('[\u0001-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2' ||
                '\u180e\u200b\u200e-\u200f\u2028-\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f' ||
                '\ufdd0-\ufdef\ufeff\ufff9-\ufffb\ufffe-\uffff\U000110bd\U000110cd' ||
                '\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U0001fffe-\U0001ffff' ||
                '\U0002fffe-\U0002ffff\U0003fffe-\U0003ffff\U0004fffe-\U0004ffff\U0005fffe-\U0005ffff' ||
                '\U0006fffe-\U0006ffff\U0007fffe-\U0007ffff\U0008fffe-\U0008ffff\U0009fffe-\U0009ffff' ||
                '\U000afffe-\U000affff\U000bfffe-\U000bffff\U000cfffe-\U000cffff\U000dfffe-\U000dffff' ||
                '\U000e0001\U000e0020-\U000e007f\U000efffe-\U000effff\U000ffffe-\U000fffff' ||
                '\U0010fffe-\U0010ffff]')
  AND email !~ ('[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000]'));
