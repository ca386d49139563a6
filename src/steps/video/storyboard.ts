import { type Dimensions, fitDimensions } from "../../media/encode-args.js";

/**
 * Pure layout for seek-preview storyboards: one sprite sheet of equal tiles, one frame every `interval`
 * seconds, read left to right and top to bottom, and the WebVTT file whose cues point into it with
 * `sprite.jpg#xywh=x,y,w,h` (the media-fragment form video.js, JW Player and Plyr read).
 */

export interface StoryboardOptions {
  /** Seconds of video. */
  duration: number;
  /** Seconds between tiles. */
  interval: number;
  /** The video's displayed size; tiles keep its aspect ratio. */
  source: Dimensions;
  tileWidth: number;
  columns: number;
}

export interface StoryboardTile {
  start: number;
  end: number;
  x: number;
  y: number;
}

export interface StoryboardLayout {
  tile: Dimensions;
  columns: number;
  rows: number;
  /** The sprite sheet's size: columns × rows tiles. */
  sheet: Dimensions;
  tiles: StoryboardTile[];
}

/**
 * One tile per started interval, so the cues cover the whole duration; a sheet only as wide as it needs
 * to be when there are fewer tiles than columns.
 */
export function storyboardLayout(options: StoryboardOptions): StoryboardLayout {
  const { duration, interval, source } = options;
  const tile = fitDimensions(source, { width: options.tileWidth });
  const count = Math.max(1, Math.ceil(duration / interval - 1e-6));
  const columns = Math.min(options.columns, count);
  const rows = Math.ceil(count / columns);
  const tiles: StoryboardTile[] = [];
  for (let i = 0; i < count; i++) {
    tiles.push({
      start: i * interval,
      end: Math.min((i + 1) * interval, duration),
      x: (i % columns) * tile.width,
      y: Math.floor(i / columns) * tile.height,
    });
  }
  return { tile, columns, rows, sheet: { width: columns * tile.width, height: rows * tile.height }, tiles };
}

/** The WebVTT file: one cue per tile, its text the sprite's URI (relative to the VTT) and the tile's box. */
export function storyboardVtt(layout: StoryboardLayout, spriteUri: string): string {
  const cues = layout.tiles.map(
    (t) =>
      `${vttTime(t.start)} --> ${vttTime(t.end)}\n${spriteUri}#xywh=${t.x},${t.y},${layout.tile.width},${layout.tile.height}`,
  );
  return `WEBVTT\n\n${cues.join("\n\n")}\n`;
}

/** 75.5 → `00:01:15.500` (WebVTT requires hours when they are not zero; always writing them is allowed). */
export function vttTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/** ffmpeg's filter chain that makes the sheet: a frame per interval, scaled to the tile, tiled. */
export function storyboardFilter(layout: StoryboardLayout, interval: number): string {
  const { tile, columns, rows } = layout;
  return `fps=1/${interval},scale=${tile.width}:${tile.height},setsar=1,tile=${columns}x${rows}`;
}

/**
 * `count` times spread evenly inside the video, neither at 0 (often black) nor at the very end (where
 * there may be no frame left to show): the midpoints of `count` equal slices.
 */
export function evenlySpacedTimes(duration: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => roundMs(((i + 0.5) * duration) / count));
}

function roundMs(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
