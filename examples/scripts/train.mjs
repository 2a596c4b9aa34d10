#!/usr/bin/env node
// A stand-in for a training script: prints one line per epoch. With a learning rate above
// 0.05 the loss diverges to nan at epoch 4 and the script would go on forever.
const lr = Number(process.argv[process.argv.indexOf('--lr') + 1] ?? 0.1);
const epochs = 8;
let loss = 2.5;
let epoch = 0;
const timer = setInterval(() => {
  epoch++;
  loss = lr > 0.05 && epoch >= 4 ? Number.NaN : loss * (1 - lr * 4);
  console.log(`epoch ${epoch}/${epochs} loss: ${Number.isNaN(loss) ? 'nan' : loss.toFixed(4)}`);
  if (epoch === epochs && !Number.isNaN(loss)) {
    console.log('saved model.bin');
    clearInterval(timer);
  }
}, 50);
