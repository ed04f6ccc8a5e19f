// A MAVLink peer built on node-mavlink, an implementation independent of
// smarteye's. It sends vehicles' telemetry to smarteye over UDP or TCP as
// MAVLink 1 and 2, signed and unsigned, listens for smarteye's own
// HEARTBEAT, and prints what it sent and heard as JSON on stdout.
//
//   node peer.mjs udp|tcp HOST PORT SIGNING_PASSPHRASE
import dgram from 'node:dgram'
import net from 'node:net'
import {
  MavLinkPacketSplitter, MavLinkPacketParser, MavLinkProtocolV1, MavLinkProtocolV2,
  MavLinkPacketSignature, minimal, common,
} from 'node-mavlink'

const [proto, host, portArg, passphrase] = process.argv.slice(2)
const port = Number(portArg)
const key = MavLinkPacketSignature.key(passphrase)
const wrongKey = MavLinkPacketSignature.key('not the key smarteye was given')

let write
const heard = { gcsHeartbeat: false, gcsSystemId: null, gcsType: null }
const inbound = new MavLinkPacketSplitter()
inbound.pipe(new MavLinkPacketParser()).on('data', (packet) => {
  if (packet.header.msgid !== minimal.Heartbeat.MSG_ID) return
  const hb = packet.protocol.data(packet.payload, minimal.Heartbeat)
  if (hb.type === minimal.MavType.GCS) {
    heard.gcsHeartbeat = true
    heard.gcsSystemId = packet.header.sysid
    heard.gcsType = hb.type
  }
})

if (proto === 'udp') {
  const sock = dgram.createSocket('udp4')
  sock.on('message', (buf) => inbound.write(buf))
  await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve))
  write = (buf) => new Promise((resolve, reject) => sock.send(buf, port, host, (err) => (err ? reject(err) : resolve())))
  process.on('exit', () => sock.close())
} else {
  const conn = net.connect(port, host)
  await new Promise((resolve, reject) => { conn.once('connect', resolve); conn.once('error', reject) })
  conn.pipe(inbound)
  write = (buf) => new Promise((resolve, reject) => conn.write(buf, (err) => (err ? reject(err) : resolve())))
  process.on('exit', () => conn.destroy())
}

// One vehicle's values, distinct per system so a mix-up shows.
function vehicle(sysid) {
  const hb = new minimal.Heartbeat()
  hb.type = minimal.MavType.QUADROTOR
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA
  hb.baseMode = minimal.MavModeFlag.CUSTOM_MODE_ENABLED | minimal.MavModeFlag.SAFETY_ARMED
  hb.customMode = 5 // LOITER
  hb.systemStatus = minimal.MavState.ACTIVE
  hb.mavlinkVersion = 3

  const gp = new common.GlobalPositionInt()
  gp.timeBootMs = 1000
  gp.lat = 225400000 + sysid * 1111
  gp.lon = 1140550000 + sysid * 2222
  gp.alt = 80000 + sysid * 10
  gp.relativeAlt = 70000 + sysid * 10
  gp.vx = 120 + sysid
  gp.vy = -340
  gp.vz = -50
  gp.hdg = 9000 + sysid * 100

  const att = new common.Attitude()
  att.timeBootMs = 1000
  att.roll = 0.1
  att.pitch = -0.05 * sysid
  att.yaw = 1.5
  att.rollspeed = 0
  att.pitchspeed = 0
  att.yawspeed = 0

  const ss = new common.SysStatus()
  ss.onboardControlSensorsPresent = 0
  ss.onboardControlSensorsEnabled = 0
  ss.onboardControlSensorsHealth = 0
  ss.load = 300
  ss.voltageBattery = 15000 + sysid * 10
  ss.currentBattery = 1000
  ss.batteryRemaining = 50 + sysid
  ss.dropRateComm = 0
  ss.errorsComm = 0
  ss.errorsCount1 = 0
  ss.errorsCount2 = 0
  ss.errorsCount3 = 0
  ss.errorsCount4 = 0
  return {
    msgs: [hb, gp, att, ss],
    sent: {
      system_id: sysid, custom_mode: 5, armed: true,
      lat: gp.lat, lon: gp.lon, alt: gp.alt, relative_alt: gp.relativeAlt, vx: gp.vx, vy: gp.vy, vz: gp.vz, hdg: gp.hdg,
      roll: att.roll, pitch: att.pitch, yaw: att.yaw,
      voltage_battery: ss.voltageBattery, current_battery: ss.currentBattery, battery_remaining: ss.batteryRemaining,
    },
  }
}

const seqs = {}
function frame(protocol, msg, sysid, signKey) {
  const seq = (seqs[sysid] = ((seqs[sysid] ?? -1) + 1) & 0xff)
  const buf = protocol.serialize(msg, seq)
  return signKey ? protocol.sign(buf, 1, signKey) : buf
}

const out = { v1: [], v2: [], signed: [], forged: [] }
const plan = [
  // [what, system id, protocol, key]
  ['v1', 21, () => new MavLinkProtocolV1(21, 1), null],
  ['v2', 22, () => new MavLinkProtocolV2(22, 1), null],
  ['signed', 23, () => new MavLinkProtocolV2(23, 1, MavLinkProtocolV2.IFLAG_SIGNED), key],
  ['forged', 24, () => new MavLinkProtocolV2(24, 1, MavLinkProtocolV2.IFLAG_SIGNED), wrongKey],
  ['forged', 23, () => new MavLinkProtocolV2(23, 1), null], // unsigned, from the signed vehicle
]
for (let round = 0; round < 3; round++) {
  for (const [what, sysid, mk, signKey] of plan) {
    const v = vehicle(sysid)
    if (what === 'forged' && sysid === 23) {
      v.msgs[1].lat = 0; v.msgs[1].lon = 0 // must never reach smarteye
    }
    for (const m of v.msgs) await write(frame(mk(), m, sysid, signKey))
    if (round === 0) out[what].push(v.sent)
  }
  await new Promise((r) => setTimeout(r, 200))
}

// smarteye's heartbeat comes every second.
const deadline = Date.now() + 5000
while (!heard.gcsHeartbeat && Date.now() < deadline) {
  if (proto === 'udp') await write(frame(new MavLinkProtocolV2(21, 1), vehicle(21).msgs[0], 21, null))
  await new Promise((r) => setTimeout(r, 250))
}
console.log(JSON.stringify({ ...out, heard }))
process.exit(0)
