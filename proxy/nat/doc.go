// Package nat helps a proxy or registrar serve user agents behind NATs.
package nat
