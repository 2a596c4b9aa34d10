#!/usr/bin/env node
// A stand-in for a video encoder: "encodes" <frames> frames, about 4 ms each, and prints its
// progress every 10%, the way encoders report it, then the file it wrote.
const [name = 'clip', framesArg = '100'] = process.argv.slice(2);
const frames = Number(framesArg);
const msPerFrame = 4;
let frame = 0;
let reported = 0;
const timer = setInterval(() => {
  frame = Math.min(frames, frame + 5);
  const percent = Math.floor((frame / frames) * 10) * 10;
  if (percent > reported) {
    reported = percent;
    console.log(`progress ${percent}%`);
  }
  if (frame === frames) {
    clearInterval(timer);
    console.log(`wrote ${name}.mp4 (${frames} frames)`);
  }
}, msPerFrame * 5);
