#!/usr/bin/env node
// tests/interop/noise_peer.js: the other side of the interop tests, on npm
// noise-handshake (an independent Noise implementation: XXpsk0 and XX with
// 25519 / ChaChaPoly / BLAKE2b). Same command line and output as noise-peer
// (docs/PROTOCOL.md §7): --initiator HOST:PORT | --responder PORT, --xx,
// --psk-hex, --prologue-hex, --static-key-hex; 2-byte big-endian length per
// Noise message. Prints local_static=, handshake_hash=, remote_static=, then
// echoes (responder) or sends stdin lines and prints replies (initiator).
'use strict'
const net = require('net')
const path = require('path')
const Noise = require(path.join(__dirname, 'node_modules', 'noise-handshake'))
const Cipher = require(path.join(__dirname, 'node_modules', 'noise-handshake', 'cipher'))
const dh = require(path.join(__dirname, 'node_modules', 'noise-handshake', 'dh'))

const args = {}
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  if (a === '--xx') { args.xx = true; continue }
  args[a.replace(/^--/, '')] = process.argv[++i]
}
function die (msg, code) {
  process.stderr.write('noise_peer.js: ' + msg + '\n')
  process.exit(code || 1)
}
const initiator = args.initiator !== undefined
if (initiator === (args.responder !== undefined)) die('--initiator or --responder')
const keyPair = args['static-key-hex']
  ? dh.generateKeyPair(Buffer.from(args['static-key-hex'], 'hex'))
  : dh.generateKeyPair()
const prologue = Buffer.from(args['prologue-hex'] || '', 'hex')
const opts = args.xx ? {} : { psk: Buffer.from(args['psk-hex'], 'hex') }
const hs = new Noise(args.xx ? 'XX' : 'XXpsk0', initiator, keyPair, opts)
hs.initialise(prologue)
console.log('local_static=' + Buffer.from(keyPair.publicKey).toString('hex'))

const timer = setTimeout(() => die('timeout'), 20000)

function frame (m) {
  const hdr = Buffer.alloc(2)
  hdr.writeUInt16BE(m.length)
  return Buffer.concat([hdr, Buffer.from(m)])
}

function run (sock) {
  let acc = Buffer.alloc(0)
  let tx = null
  let rx = null
  const lines = []
  let pending = 0
  sock.setNoDelay(true)

  function done () {
    console.log('handshake_hash=' + Buffer.from(hs.hash).toString('hex'))
    console.log('remote_static=' + Buffer.from(hs.rs).toString('hex'))
    // noise-handshake: tx encrypts this side's messages, rx decrypts the peer's
    tx = new Cipher(hs.tx)
    rx = new Cipher(hs.rx)
    if (initiator) sendNextLine()
  }
  function sendNextLine () {
    if (lines.length === 0) { sock.end(); clearTimeout(timer); return }
    const l = lines.shift()
    pending++
    sock.write(frame(tx.encrypt(Buffer.from(l))))
  }
  function onMessage (m) {
    try {
      if (!hs.complete) {
        hs.recv(m)
        if (!hs.complete) sock.write(frame(hs.send()))
        if (hs.complete) done()
        return
      }
      const pt = rx.decrypt(m)
      if (initiator) {
        pending--
        console.log(Buffer.from(pt).toString())
        sendNextLine()
      } else {
        sock.write(frame(tx.encrypt(pt)))
      }
    } catch (e) {
      die('noise failure: ' + e.message, 2)
    }
  }
  sock.on('data', (d) => {
    acc = Buffer.concat([acc, d])
    while (acc.length >= 2) {
      const n = acc.readUInt16BE(0)
      if (acc.length < 2 + n) break
      const m = acc.subarray(2, 2 + n)
      acc = acc.subarray(2 + n)
      onMessage(m)
    }
  })
  sock.on('end', () => {
    if (!hs.complete) die('connection closed during handshake', 2)
    if (initiator && (pending > 0 || lines.length > 0)) die('connection lost', 1)
    clearTimeout(timer)
    if (!initiator) sock.end()
  })
  sock.on('error', (e) => die('socket: ' + e.message))
  if (initiator) {
    const input = require('fs').readFileSync(0, 'utf8').split('\n')
    if (input.length && input[input.length - 1] === '') input.pop()
    lines.push(...input)
    sock.write(frame(hs.send()))
  }
}

if (initiator) {
  const i = args.initiator.lastIndexOf(':')
  const sock = net.connect(Number(args.initiator.slice(i + 1)), args.initiator.slice(0, i))
  sock.on('connect', () => run(sock))
  sock.on('error', (e) => die('connect: ' + e.message))
} else {
  const srv = net.createServer((sock) => { srv.close(); run(sock) })
  srv.listen(Number(args.responder), '127.0.0.1', () => {
    console.log('listening=' + srv.address().port)
  })
}
