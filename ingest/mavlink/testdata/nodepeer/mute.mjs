// A vehicle that never answers, built on node-mavlink (an implementation
// independent of smarteye's): an ArduCopter's HEARTBEAT (LOITER,
// disarmed) and position five times a second over UDP, and silence to
// every command. It records each COMMAND_LONG and COMMAND_INT addressed to
// it, and prints them as JSON when its standard input closes.
//
//   node mute.mjs HOST PORT SYSTEM_ID
import dgram from 'node:dgram'
import {
  MavLinkPacketSplitter, MavLinkPacketParser, MavLinkProtocolV2, minimal, common,
} from 'node-mavlink'

const [host, portArg, sysArg] = process.argv.slice(2)
const port = Number(portArg)
const sysid = Number(sysArg)
const commands = []

const inbound = new MavLinkPacketSplitter()
inbound.pipe(new MavLinkPacketParser()).on('data', (packet) => {
  const id = packet.header.msgid
  if (id === common.CommandLong.MSG_ID) {
    const c = packet.protocol.data(packet.payload, common.CommandLong)
    if (c.targetSystem === sysid) commands.push({ command: c.command, confirmation: c.confirmation, int: false })
  } else if (id === common.CommandInt.MSG_ID) {
    const c = packet.protocol.data(packet.payload, common.CommandInt)
    if (c.targetSystem === sysid) commands.push({ command: c.command, confirmation: 0, int: true })
  }
})

const sock = dgram.createSocket('udp4')
sock.on('message', (buf) => inbound.write(buf))
await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve))
const protocol = new MavLinkProtocolV2(sysid, 1)
let seq = 0
const send = (msg) => new Promise((resolve, reject) => sock.send(protocol.serialize(msg, seq++ & 0xff), port, host, (err) => (err ? reject(err) : resolve())))

const hb = new minimal.Heartbeat()
hb.type = minimal.MavType.QUADROTOR
hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA
hb.baseMode = minimal.MavModeFlag.CUSTOM_MODE_ENABLED
hb.customMode = 5 // LOITER
hb.systemStatus = minimal.MavState.STANDBY
hb.mavlinkVersion = 3

const gp = new common.GlobalPositionInt()
gp.lat = 225400000
gp.lon = 1140550000
gp.alt = 10000
gp.relativeAlt = 0
gp.vx = 0; gp.vy = 0; gp.vz = 0
gp.hdg = 0

const timer = setInterval(async () => {
  gp.timeBootMs = Math.round(performance.now())
  await send(hb)
  await send(gp)
}, 200)

process.stdin.resume()
process.stdin.on('end', () => {
  clearInterval(timer)
  console.log(JSON.stringify({ commands }))
  sock.close()
  process.exit(0)
})
