// socket.io with the same broadcast as a livecast room, for benchmarks/bench_realtime.py:
// comments and reaction taps are collected and sent to every client as one "batch" event per
// 50 ms tick, with the reaction totals every 250 ms. Usage: node server.js PORT
"use strict";
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const io = new Server(port, { transports: ["websocket"], pingInterval: 300000, pingTimeout: 60000 });
let pending = [];
let seq = 0;
let ticks = 0;
const totals = { like: 0, love: 0, fire: 0, clap: 0, wow: 0 };

io.on("connection", (socket) => {
  socket.on("comment", (message) => {
    seq += 1;
    pending.push({ seq: seq, type: "comment", user: socket.id, text: String(message.text) });
  });
  socket.on("reaction", (kind) => {
    if (kind in totals) totals[kind] += 1;
  });
});

setInterval(() => {
  ticks += 1;
  if (ticks % 5 === 0) pending.push({ type: "reactions", totals: totals });
  if (pending.length) {
    io.emit("batch", { events: pending });
    pending = [];
  }
}, 50);
process.stdout.write("ready\n");
