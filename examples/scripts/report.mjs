#!/usr/bin/env node
// A stand-in for a report job: summarises the training runs it is given.
const [runs] = process.argv.slice(2);
console.log(`report: ${runs} training runs, the last one succeeded`);
