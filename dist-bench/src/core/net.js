import { BlockList, isIPv4, isIPv6 } from "node:net";
import { badRequest } from "./errors.js";
/** Parses CIDR blocks (`10.0.0.0/8`, `::1/128`, or a bare address); 400 naming the bad entry. */
export function parseCidrs(cidrs, field) {
    const list = new BlockList();
    for (const cidr of cidrs) {
        const [addr, bits] = cidr.split("/");
        const type = isIPv4(addr) ? "ipv4" : isIPv6(addr) ? "ipv6" : undefined;
        const prefix = bits === undefined ? (type === "ipv4" ? 32 : 128) : Number(bits);
        if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > (type === "ipv4" ? 32 : 128)) {
            throw badRequest(`field "${field}": invalid CIDR "${cidr}"`);
        }
        list.addSubnet(addr, prefix, type);
    }
    return list;
}
/** Is `address` (as the socket reports it, IPv4-mapped IPv6 included) inside one of `cidrs`? */
export function cidrAllows(cidrs, address) {
    const list = parseCidrs(cidrs, "bound_cidrs");
    const plain = address.startsWith("::ffff:") && isIPv4(address.slice(7)) ? address.slice(7) : address;
    return list.check(plain, isIPv4(plain) ? "ipv4" : "ipv6");
}
