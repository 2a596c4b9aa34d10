#!/usr/bin/env node
// A stand-in for a notification (a chat message, an e-mail): prints what it would send.
const message = process.argv.slice(2).join(' ');
setTimeout(() => console.log(`notified: ${message}`), 100);
