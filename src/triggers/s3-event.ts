import { z } from "zod";

/**
 * S3 bucket event notifications (AWS S3, MinIO, and servers that copy their format). Only what a trigger
 * needs is read; other fields pass untouched, as the format grows over time.
 */
const recordSchema = z.object({
  eventName: z.string(),
  s3: z.object({
    bucket: z.object({ name: z.string() }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().int().min(0).optional(),
      eTag: z.string().optional(),
      // MinIO sends it; AWS does not.
      contentType: z.string().optional(),
    }),
  }),
});

export const s3EventSchema = z.object({ Records: z.array(recordSchema).max(1000).default([]) });

export type S3Event = z.infer<typeof s3EventSchema>;

/** One object that was created, its key decoded. */
export interface CreatedObject {
  bucket: string;
  key: string;
  bytes: number | undefined;
  etag: string | undefined;
  contentType: string | undefined;
}

/**
 * The records announcing a new object (`ObjectCreated:Put`, `:CompleteMultipartUpload`, ...); a record
 * whose key does not decode is dropped (no store could hold it).
 */
export function createdObjects(event: S3Event): CreatedObject[] {
  return event.Records.flatMap((record) => {
    if (!record.eventName.replace(/^s3:/, "").startsWith("ObjectCreated:")) return [];
    const key = decodeEventKey(record.s3.object.key);
    if (key === undefined) return [];
    return [
      {
        bucket: record.s3.bucket.name,
        key,
        bytes: record.s3.object.size,
        etag: record.s3.object.eTag?.replace(/^"|"$/g, ""),
        contentType: record.s3.object.contentType,
      },
    ];
  });
}

/** Keys arrive form-encoded: `+` is a space and everything else is percent-encoded. */
export function decodeEventKey(key: string): string | undefined {
  try {
    return decodeURIComponent(key.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

/**
 * Turns a bucket key into a key of the store, or undefined when the object lies outside it: the store's
 * keys are relative to its bucket and prefix (`s3://bucket/prefix`). A local store has neither, so keys
 * are taken as they are (a bucket mirrored into it, or a test).
 */
export function storeKeyFor(
  object: CreatedObject,
  store: { bucket: string; keyPrefix: string } | undefined,
): string | undefined {
  if (store === undefined) return object.key;
  if (object.bucket !== store.bucket || !object.key.startsWith(store.keyPrefix)) return undefined;
  const key = object.key.slice(store.keyPrefix.length);
  return key === "" ? undefined : key;
}
