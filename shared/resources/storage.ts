/**
 * Where objects live in the one artifact bucket, by top-level prefix. Object keys themselves are
 * built in shared/keys.ts (and shared/draft/source-media.ts); the CDK stack grants, expires and
 * acknowledges by these prefixes, and the embedded stack's upload trigger filters on
 * {@link PREFIX.inbox} as S3's notification does on AWS.
 *
 * ```
 *   tasks/<task_id>/…                    every artifact of one task (never shared between tasks)
 *   sources/<creator>/<video>/source.txt  the creator's text, waiting for a submission
 *   sources/<creator>/<video>/media/…     the creator's stills and clips (the API writes and deletes, Draft reads)
 *   sources/<creator>/<video>/music/…     the creator's background music (likewise)
 *   inbox/<any>.json                      request documents: each upload starts a task
 *   inbox-accepted/ · inbox-rejected/     where the inbox function moves a handled document
 * ```
 */

/** The bucket's name on the embedded stack (on AWS the stack names it; handlers read BUCKET_NAME). */
export const DEFAULT_BUCKET_NAME = 'reel-pipeline-artifacts';

/** Top-level key prefixes, each ending in `/`. */
export const PREFIX = {
  tasks: 'tasks/',
  sources: 'sources/',
  inbox: 'inbox/',
  inboxAccepted: 'inbox-accepted/',
  inboxRejected: 'inbox-rejected/',
} as const;

/** The creator's media folders under sources/, as an IAM resource pattern: `sources/<creator>/<video>/media/`. */
export const SOURCE_MEDIA_PATTERN = `${PREFIX.sources}*/media/`;

/** The creator's music folders under sources/, as an IAM resource pattern: `sources/<creator>/<video>/music/`. */
export const SOURCE_MUSIC_PATTERN = `${PREFIX.sources}*/music/`;
