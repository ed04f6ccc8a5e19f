// Parses a file of MAVLink frames with node-mavlink (split, check, decode
// each known message into its class) and prints frames per second as JSON:
// the baseline for smarteye's decoder in BENCHMARKS.md.
//
//   node parse-bench.mjs FRAMES.bin
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { MavLinkPacketSplitter, MavLinkPacketParser, minimal, common, ardupilotmega } from 'node-mavlink'

const REGISTRY = { ...minimal.REGISTRY, ...common.REGISTRY, ...ardupilotmega.REGISTRY }
const data = readFileSync(process.argv[2])
const start = process.hrtime.bigint()
let frames = 0
let decoded = 0
const parser = Readable.from([data]).pipe(new MavLinkPacketSplitter()).pipe(new MavLinkPacketParser())
parser.on('data', (packet) => {
  frames++
  const clazz = REGISTRY[packet.header.msgid]
  if (clazz) {
    packet.protocol.data(packet.payload, clazz)
    decoded++
  }
})
parser.on('end', () => {
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  console.log(JSON.stringify({ frames, decoded, seconds: secs, frames_per_second: frames / secs }))
})
